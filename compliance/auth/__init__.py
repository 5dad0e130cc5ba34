"""The auth domain (see README "Layout")."""
