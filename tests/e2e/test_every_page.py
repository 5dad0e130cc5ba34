"""Every page, as every role, on a phone and on a desktop, in a real browser.

On the demo data, with its largest case grown to 1,000 findings and 10,000 subjects, each role
signs in and walks every GET page it can reach by following links from the navigation and the
case pages (same origin, one page per route and case tab). A page fails when it is wider than
the window, logs a console error, has a request that fails, shows a broken image, or (the
evidence and intel tabs of the grown case) is taller than the limit those tabs must keep to.
Each page is saved as a screenshot: test-artifacts/pages/<role>-<width>-<slug>.png.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from compliance import create_app
from compliance.extensions import db
from tests.conftest import PASSWORD, app_settings
from tests.scale import grow_case

PAGES = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
WIDTHS = {390: 844, 1440: 900}
ROLES = {
    "analyst": "alex.rivera@lab.example",
    "counsel": "casey.lindqvist@lab.example",
    "auditor": "ari.novak@lab.example",
    "admin": "morgan.admin@lab.example",
}
# The evidence and intel tabs of a case with 1,000 findings and 10,000 subjects show a summary
# and a page of their lists, not everything: at most this tall (CSS pixels) at each width.
TALL_TAB_LIMIT_PX = {390: 9000, 1440: 5000}
TALL_TABS = ("evidence", "intel")
# Full-page screenshots of taller pages are cut here (Chromium slows down past it).
SCREENSHOT_MAX_PX = 12000
# Links that do not lead to an HTML page (files, images, feeds): fetched, never walked.
NOT_PAGES = {
    "packets.download",
    "intel.download_export",
    "audit.checkpoint_download",
    "web.chart",
    "web.favicon",
    "static",
}
NOT_PAGE_PREFIXES = ("api.", "findings_api.", "taxii.")
# Pages each role must reach (route pattern, case tab): the crawl may find more, never fewer.
MUST_FIND = {
    "analyst": {
        ("/", None),
        ("/cases/", None),
        ("/cases/<ref>", "overview"),
        ("/cases/<ref>", "evidence"),
        ("/cases/<ref>", "intel"),
        ("/cases/<ref>", "audit"),
        ("/policies/", None),
        ("/findings/inbox", None),
        ("/reviews/mine", None),
        ("/reviews/team", None),
        ("/notifications", None),
    },
    "counsel": {
        ("/", None),
        ("/cases/", None),
        ("/cases/<ref>", "evidence"),
        ("/cases/<ref>", "intel"),
        ("/cases/<ref>", "packets"),
        ("/cases/<ref>/packets/<int:packet_id>", None),
        ("/intel/", None),
        ("/reviews/mine", None),
    },
    "auditor": {("/", None), ("/cases/", None), ("/audit/", None), ("/cases/<ref>", "audit")},
    "admin": {
        ("/policies/", None),
        ("/admin/users", None),
        ("/admin/tokens", None),
        ("/admin/outbox", None),
    },
}
MAX_PAGES_PER_ROLE = 80
# The README's screenshots (docs/ui/), taken by this walk when COMPLIANCE_UI_SCREENSHOTS=1:
# (role, width, route pattern, case tab) -> file name. A window's worth, not the whole page.
README_SHOTS = {
    ("counsel", 1440, "/", None): "dashboard",
    ("counsel", 1440, "/cases/<ref>", "overview"): "case",
    ("auditor", 1440, "/audit/", None): "audit-trail",
    ("analyst", 390, "/cases/<ref>", "overview"): "case-phone",
}
DOCS_UI = Path(__file__).resolve().parents[2] / "docs" / "ui"


@dataclass
class Site:
    base_url: str
    app: Any
    grown_ref: str
    # Filled by the 1440 px walk of each role; the 390 px walk visits the same pages.
    found: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _load(app: Any) -> str:
    """Demo users with a known password, the demo data, and its largest case grown."""
    from compliance.actor import Actor
    from compliance.auth.operations import create_user
    from compliance.cases.models import Case, CaseSubject
    from compliance.demo import DEMO_USERS, load_demo

    for email, role, name in DEMO_USERS:
        create_user(Actor.cli_operator(), email, role, PASSWORD, name)
    db.session.commit()
    load_demo(echo=lambda _line: None)
    largest = db.session.scalar(
        select(Case.ref)
        .join(CaseSubject, CaseSubject.case_id == Case.id)
        .group_by(Case.ref)
        .order_by(func.count().desc())
        .limit(1)
    )
    grow_case(largest, findings=1000, subjects=10000)
    return largest


@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One demo database for the whole module, served in-process (loading it is the slow part)."""
    root = tmp_path_factory.mktemp("every-page")
    shutil.copyfile(sqlite_template, root / "site.db")
    settings = app_settings(f"sqlite:///{root / 'site.db'}", root)
    app = create_app({**settings, "WTF_CSRF_ENABLED": True, "SERVER_NAME": None})
    with app.app_context():
        grown = _load(app)
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    PAGES.mkdir(parents=True, exist_ok=True)
    yield Site(f"http://127.0.0.1:{server.server_port}", app, grown)
    server.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.engine.dispose()


def route_of(site: Site, url: str) -> tuple[str, str | None, str] | None:
    """(route pattern, case tab, endpoint) of a same-origin URL; None for another origin."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != site.base_url:
        return None
    adapter = site.app.url_map.bind("127.0.0.1")
    try:
        rule, _args = adapter.match(parts.path, method="GET", return_rule=True)
    except HTTPException:
        return None
    tab = None
    if rule.endpoint == "cases.view":
        tab = parse_qs(parts.query).get("tab", ["overview"])[0]
    if rule.endpoint in NOT_PAGES or rule.endpoint.startswith(NOT_PAGE_PREFIXES):
        return None
    return rule.rule, tab, rule.endpoint


def slug(pattern: str, tab: str | None) -> str:
    name = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"\1", pattern).strip("/") or "dashboard"
    name = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    return f"{name}-{tab}" if tab else name


CHECKS = """() => {
  const doc = document.documentElement;
  const broken = Array.from(document.images)
    .filter((img) => img.complete && img.naturalWidth === 0)
    .map((img) => img.currentSrc || img.src);
  const links = Array.from(document.querySelectorAll('a[href]'))
    .filter((a) => !a.hasAttribute('download'))
    .map((a) => a.href);
  const wide = [];
  if (doc.scrollWidth > innerWidth) {
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right > innerWidth + 1 && r.width > 0 && el.closest('[data-scrolls]') === null) {
        wide.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
        if (wide.length > 4) break;
      }
    }
  }
  return {scrollWidth: doc.scrollWidth, innerWidth, height: doc.scrollHeight, broken, links,
          wide};
}"""


def walk(site: Site, browser: Any, role: str, width: int) -> tuple[list[str], set[Any]]:
    """Visit the role's pages at this width; the problems found, and the routes seen."""
    context = browser.new_context(
        base_url=site.base_url, viewport={"width": width, "height": WIDTHS[width]}
    )
    context.set_default_timeout(120_000)  # the ungrown tabs of #18 take long
    page = context.new_page()
    from compliance.auth.models import User
    from compliance.auth.permissions import can

    with site.app.app_context():
        user = db.session.scalar(select(User).where(User.email == ROLES[role]))
        reads_cases = can(user, "case.view")
        db.session.remove()
    page.goto("/login")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)  # each role lands where it may

    problems: list[str] = []
    current: list[str] = []  # what the page being checked logged
    page.on("console", lambda m: current.append(f"console: {m.text}") if m.type == "error" else 0)
    page.on("pageerror", lambda e: current.append(f"script error: {e}"))
    page.on(
        "response",
        lambda r: current.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
    )
    # A request the browser itself cancels (an icon still loading as the walk moves on) is
    # not a failure of the page.
    page.on(
        "requestfailed",
        lambda r: (
            None
            if r.failure == "net::ERR_ABORTED"
            else current.append(f"request failed {r.url}: {r.failure}")
        ),
    )

    grown_case = f"/cases/{site.grown_ref}"
    if width == 1440 or role not in site.found:
        queue = []
        if reads_cases:  # the grown case first: it stands for every case page
            queue += [(f"{grown_case}?tab={tab}", "") for tab in TALL_TABS]
        queue.append((urlsplit(page.url).path, ""))  # where the role lands after signing in
        crawl = True
    else:
        queue, crawl = list(site.found[role]), False
    seen: set[Any] = set()
    visited: list[tuple[str, str]] = []
    while queue and len(visited) < MAX_PAGES_PER_ROLE:
        path, came_from = queue.pop(0)
        where = route_of(site, site.base_url + path)
        if where is None:
            continue
        key = where[:2]
        if crawl and key in seen:
            continue
        seen.add(key)
        visited.append((path, came_from))
        current.clear()
        response = page.goto(path)
        page.wait_for_load_state("load")
        label = f"{path} (linked from {came_from or 'the start'})"
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            continue
        facts = page.evaluate(CHECKS)
        name = f"{role}-{width}-{slug(*key)}"
        page.screenshot(
            path=str(PAGES / f"{name}.png"),
            full_page=facts["height"] <= SCREENSHOT_MAX_PX,
        )
        readme_name = README_SHOTS.get((role, width, *key))
        if readme_name and os.environ.get("COMPLIANCE_UI_SCREENSHOTS") == "1":
            DOCS_UI.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOCS_UI / f"{readme_name}.png"))
        found = list(current)
        if facts["scrollWidth"] > facts["innerWidth"]:
            found.append(
                f"{facts['scrollWidth']} px wide in a {facts['innerWidth']} px window "
                f"(past the edge: {', '.join(facts['wide'])})"
            )
        found += [f"broken image {src}" for src in facts["broken"]]
        tall_tab = path.startswith(grown_case) and key[1] in TALL_TABS
        if tall_tab and facts["height"] > TALL_TAB_LIMIT_PX[width]:
            found.append(
                f"{facts['height']} px tall (the limit for the {key[1]} tab of a case with "
                f"1,000 findings is {TALL_TAB_LIMIT_PX[width]} px)"
            )
        problems += [f"{label}: {p}" for p in found]
        if crawl:
            for href in facts["links"]:
                target = route_of(site, href)
                if target is None or target[:2] in seen:
                    continue
                parts = urlsplit(href)
                query = {k: v for k, v in parse_qs(parts.query).items() if k == "tab"}
                suffix = f"?{urlencode(query, doseq=True)}" if query else ""
                queue.append((parts.path + suffix, path))
    context.close()
    if crawl:
        site.found[role] = visited
    return problems, seen


@pytest.mark.parametrize("width", sorted(WIDTHS, reverse=True))
@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_fits_and_loads_cleanly(site, browser, role: str, width: int) -> None:
    problems, seen = walk(site, browser, role, width)
    if width == 1440:
        missing = MUST_FIND[role] - seen
        assert not missing, f"the crawl did not reach {sorted(missing, key=str)}"
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
