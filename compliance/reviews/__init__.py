"""Periodic reviews, their scheduler jobs and the notifications that keep people told."""
