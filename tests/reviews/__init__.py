"""Periodic reviews, notifications and the scheduler."""
