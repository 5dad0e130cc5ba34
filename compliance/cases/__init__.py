"""The cases domain (see README "Layout")."""
