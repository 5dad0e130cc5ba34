"""The api domain (see README "Layout")."""
