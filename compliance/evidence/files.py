"""Reading finding files (JSON or JSON Lines) for the CLI and the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_batch(path: Path) -> list[Any]:
    """A file's findings: a JSON object, a JSON array, or JSON Lines (one finding per line)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if path.suffix == ".json":
            raise ValueError(f"not valid JSON: {error}") from error
        data = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as line_error:
                    raise ValueError(f"line {number} is not valid JSON: {line_error}") from None
    return data if isinstance(data, list) else [data]
