"""The tabs of the case page; compliance.web.CASE_TABS lists them, each with a context function.

A tab's template is templates/cases/tabs/<key>.html and receives `case`, `actor` and what
its context function returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compliance.actor import Actor
from compliance.cases.models import Case

TabContext = Callable[[Case, Actor], dict[str, Any]]


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    order: int
    context: TabContext
    permission: str = "case.view"


TABS: dict[str, Tab] = {}


def register_tab(
    key: str, label: str, order: int, context: TabContext, permission: str = "case.view"
) -> None:
    TABS[key] = Tab(key, label, order, context, permission)


def ordered_tabs() -> list[Tab]:
    return sorted(TABS.values(), key=lambda tab: tab.order)
