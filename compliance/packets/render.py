"""The one PDF renderer: a Jinja template + one stylesheet -> an archival PDF/A-3b document.

Everything that turns HTML into PDF goes through here (packets, the audit report), so there is
exactly one WeasyPrint configuration and one URL fetcher to review. The renderer takes a plain
context (no database session) and is deterministic: the same context, attachments, Bates offset
and `created` time give the same bytes on the same WeasyPrint, Pango and fonts.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import weasyprint
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from weasyprint.css.counters import CounterStyle

from compliance import PROJECT_ROOT
from compliance.markdown import render_markdown

TEMPLATE_DIR = PROJECT_ROOT / "templates" / "packets"
STATIC_DIR = PROJECT_ROOT / "static"
ASSET_SCHEME = "asset"  # asset:<path below static/>: our own static files
EVIDENCE_SCHEME = "evidence"  # evidence:<sha256>: an exhibit's image, handed to this render
PDF_VARIANT = "pdf/a-3b"
BATES_PAD = 7
_PREFIX_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")


class RenderError(RuntimeError):
    """The document could not be rendered; the message says why."""


@dataclass(frozen=True)
class Bates:
    """A Bates stamp for every page: prefix + zero-padded number starting at `first`."""

    prefix: str
    first: int

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise RenderError(f"Bates prefix {self.prefix!r} must be A-Z, 0-9, '-' or '_'")
        if self.first < 1:
            raise RenderError("Bates numbers start at 1")

    def label(self, number: int) -> str:
        return f"{self.prefix}-{number:0{BATES_PAD}d}"


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF as an associated file (PDF/A-3), e.g. evidence or manifest."""

    name: str
    data: bytes
    description: str = ""
    relationship: str = "Source"  # Source, Data, Supplement, Alternative, Unspecified
    media_type: str | None = None


@dataclass(frozen=True)
class RenderedPdf:
    pdf: bytes
    pages: int
    html: str


def _refuse(url: str) -> None:
    # ValueError is caught by WeasyPrint: the resource is left out and the render goes on.
    raise ValueError(f"refused to fetch {url[:80]!r}: packets load only their own assets")


class SafeURLFetcher(weasyprint.URLFetcher):
    """Serves only files below static/ through `asset:` and the exhibit images this render was
    given through `evidence:<sha256>`; refuses file:, http(s), data:, ftp.

    `<a rel="attachment">` and `<link rel="attachment">` in content are fetched through this
    fetcher too, so a link to file:///etc/passwd embeds nothing.
    """

    def __init__(self, images: Mapping[str, bytes] | None = None) -> None:
        super().__init__(
            timeout=1, allowed_protocols=(ASSET_SCHEME, EVIDENCE_SCHEME), allow_redirects=False
        )
        self.images = dict(images or {})

    def fetch(self, url: str, headers: Any = None) -> weasyprint.urls.URLFetcherResponse:
        if url.startswith(f"{EVIDENCE_SCHEME}:"):
            data = self.images.get(url[len(EVIDENCE_SCHEME) + 1 :])
            if data is None:
                _refuse(url)
            return weasyprint.urls.URLFetcherResponse(url, data, {})
        if not url.startswith(f"{ASSET_SCHEME}:"):
            _refuse(url)
        relative = url[len(ASSET_SCHEME) + 1 :].lstrip("/").split("?")[0].split("#")[0]
        path = (STATIC_DIR / relative).resolve()
        if STATIC_DIR.resolve() not in path.parents or not path.is_file():
            _refuse(url)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return weasyprint.urls.URLFetcherResponse(
            url, path.read_bytes(), {"Content-Type": media_type}
        )


def url_fetcher(images: Mapping[str, bytes] | None = None) -> SafeURLFetcher:
    """The one fetcher every WeasyPrint call in the project uses."""
    return SafeURLFetcher(images)


def _pdf_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _date(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d")


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _identifier_label(kind: str) -> str:
    from compliance.packets.context import IDENTIFIER_LABELS

    return IDENTIFIER_LABELS.get(kind, (kind or "").replace("_", " ").capitalize())


@lru_cache(maxsize=1)
def jinja_env() -> Environment:
    """A Jinja environment of its own: no Flask request globals leak into documents."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = render_markdown
    env.filters["when"] = _when
    env.filters["date"] = _date
    env.filters["number"] = _number
    env.filters["label"] = lambda value: (value or "").replace("_", " ")
    env.filters["identifier_label"] = _identifier_label
    return env


@lru_cache(maxsize=1)
def stylesheet_text() -> str:
    """packet.css, the one stylesheet of every document."""
    return (TEMPLATE_DIR / "packet.css").read_text()


def _stylesheet(counter_style: CounterStyle) -> weasyprint.CSS:
    return weasyprint.CSS(
        string=stylesheet_text(),
        url_fetcher=url_fetcher(),
        base_url=f"{ASSET_SCHEME}:/",
        counter_style=counter_style,
    )


def bates_css(bates: Bates) -> str:
    """The stylesheet that stamps Bates numbers and makes cross-references cite them."""
    # counter-reset on the first page only; never counter-increment: page (Kozea#892).
    css = (
        f'@counter-style bates {{ system: extends decimal; pad: {BATES_PAD} "0"; }}\n'
        f'@page {{ @bottom-right {{ content: "{bates.prefix}-" counter(page, bates); }} }}\n'
        f"@page :first {{ counter-reset: page {bates.first}; }}\n"
        # Cross-references (contents, exhibit index) cite Bates numbers, not page numbers.
        f'nav.toc a::after {{ content: leader(".") " {bates.prefix}-" '
        f"target-counter(attr(href), page, bates); }}\n"
        f".index-entry .bates a.start::before, .index-entry .bates a.end::before {{ "
        f'content: "{bates.prefix}-" target-counter(attr(href), page, bates); }}\n'
        f'a.bates-ref::before {{ content: "{bates.prefix}-" '
        f"target-counter(attr(href), page, bates); }}\n"
    )
    return css


def _bates_stylesheet(bates: Bates, counter_style: CounterStyle) -> weasyprint.CSS:
    # @counter-style rules are collected into `counter_style` when the CSS is parsed; the
    # same object must reach render(), or the padding is silently lost.
    return weasyprint.CSS(
        string=bates_css(bates), url_fetcher=url_fetcher(), counter_style=counter_style
    )


def render_html(template_name: str, context: Mapping[str, Any]) -> str:
    """The HTML of a document (tests inspect it; the PDF is made from exactly this)."""
    if "/" in template_name or template_name.startswith("_"):
        raise RenderError(f"not a document template: {template_name!r}")
    return jinja_env().get_template(f"{template_name}.html").render(**context)


class LaidOut:
    """A document laid out into pages: the page count is known, the PDF not yet written.

    Packets reserve their Bates range between the two steps, so one layout serves both the
    page count and the final file (see compliance.packets.tasks.build_packet).
    """

    def __init__(self, document: weasyprint.Document, html: str, created: datetime) -> None:
        self.document = document
        self.html = html
        self.created = created

    @property
    def pages(self) -> int:
        return len(self.document.pages)

    def write(self, attachments: Iterable[PdfAttachment] = ()) -> bytes:
        """The PDF/A-3b bytes, with `attachments` embedded as associated files."""
        files = [
            weasyprint.Attachment(
                string=item.data,
                name=item.name,
                description=item.description or item.name,
                # Fixed dates: the default is "now", which would change the bytes every time.
                created=self.created,
                modified=self.created,
                relationship=item.relationship,
            )
            for item in attachments
        ]
        return self.document.write_pdf(
            attachments=files, pdf_variant=PDF_VARIANT, presentational_hints=False
        )


def layout(
    html: str,
    *,
    bates: Bates | None = None,
    created: datetime,
    images: Mapping[str, bytes] | None = None,
) -> LaidOut:
    """Lay out final HTML into pages with packet.css (and a Bates stamp when given).

    `images` are exhibit images by SHA-256, the only `evidence:` URLs the HTML may load.
    """
    if created.tzinfo is None:
        raise RenderError("the document date must carry a time zone")
    counter_style = CounterStyle()
    stylesheets = [_stylesheet(counter_style)]
    if bates is not None:
        stylesheets.append(_bates_stylesheet(bates, counter_style))
    document = weasyprint.HTML(
        string=html, url_fetcher=url_fetcher(images), base_url=f"{ASSET_SCHEME}:/"
    ).render(stylesheets=stylesheets, presentational_hints=False, counter_style=counter_style)
    # Dates come from the recorded build time only, never from the clock.
    stamp = _pdf_date(created)
    document.metadata.created = stamp
    document.metadata.modified = stamp
    document.metadata.generator = "compliance"
    return LaidOut(document, html, created)


def html_to_pdf(
    html: str,
    *,
    attachments: Iterable[PdfAttachment] = (),
    bates: Bates | None = None,
    created: datetime,
) -> RenderedPdf:
    """Final HTML -> PDF/A-3b bytes with embedded files and fixed dates."""
    laid_out = layout(html, bates=bates, created=created)
    return RenderedPdf(pdf=laid_out.write(attachments), pages=laid_out.pages, html=html)
