"""Moved to compliance/scheduling/scheduler.py; this name stays importable for older scripts."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    # Resolved on first use: compliance.scheduling imports the reviews package.
    return getattr(importlib.import_module("compliance.scheduling.scheduler"), name)
