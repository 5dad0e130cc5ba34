"""The audit domain (see README "Layout")."""
