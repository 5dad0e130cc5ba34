"""The policies domain (see README "Layout")."""
