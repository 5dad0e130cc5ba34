"""Full-text search over cases: SQLite FTS5 or PostgreSQL full-text, behind one interface.

Each case has one search document (title, summary, subjects and notes). Privileged notes go in
a separate column that only counsel's searches read, so a search can never reveal them.
Documents are refreshed automatically at commit time for every case whose title, summary,
notes or subjects changed in the transaction, so no operation has to remember to do it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Select, delete, func, insert, select, text
from sqlalchemy.orm import Session

from compliance.cases.models import Case, CaseNote, CaseSearchDocument, CaseSubject, Subject
from compliance.db import BigId, utcnow
from compliance.extensions import db

_DIRTY_KEY = "search_dirty_cases"
# Tables whose rows change a case's document, and the column naming the case.
_SOURCES = {"cases": "id", "case_notes": "case_id", "case_subjects": "case_id"}
_WORD = re.compile(r"\w+", re.UNICODE)


def _collect(session: Session, flush_context: Any, instances: Any) -> None:
    dirty = session.info.setdefault(_DIRTY_KEY, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        column = _SOURCES.get(getattr(obj, "__tablename__", ""))
        if column is not None:
            case_id = getattr(obj, column, None)
            if case_id is not None:
                dirty.add(case_id)
    # New rows get their ids during this flush: look again after it.
    session.info.setdefault("search_pending", []).extend(
        obj for obj in session.new if getattr(obj, "__tablename__", "") in _SOURCES
    )


def mark_dirty(session: Session, case_ids: Any) -> None:
    """Refresh these cases' documents at commit (for writers that bypass the flush hooks)."""
    session.info.setdefault(_DIRTY_KEY, set()).update(case_ids)


def _refresh_documents(session: Session) -> None:
    session.flush()
    dirty = session.info.setdefault(_DIRTY_KEY, set())
    for obj in session.info.pop("search_pending", []):
        case_id = getattr(obj, _SOURCES[obj.__tablename__], None)
        if case_id is not None:
            dirty.add(case_id)
    if dirty:
        refresh(session, sorted(dirty))
        dirty.clear()


def _forget(session: Session) -> None:
    session.info.pop(_DIRTY_KEY, None)
    session.info.pop("search_pending", None)


def _documents(session: Session, case_ids: list[int]) -> dict[int, tuple[str, str]]:
    parts: dict[int, list[list[str]]] = {}
    for case_id, title, summary, actor in session.execute(
        select(Case.id, Case.title, Case.summary, Case.suspected_actor).where(Case.id.in_(case_ids))
    ):
        parts[case_id] = [[title, summary or "", actor or ""], []]
    for case_id, body, privileged in session.execute(
        select(CaseNote.case_id, CaseNote.body, CaseNote.privileged).where(
            CaseNote.case_id.in_(case_ids)
        )
    ):
        if case_id in parts:
            parts[case_id][1 if privileged else 0].append(body)
    for case_id, value in _subject_values(session, case_ids):
        if case_id in parts:
            parts[case_id][0].append(value)
    return {
        cid: ("\n".join(public), "\n".join(private)) for cid, (public, private) in parts.items()
    }


def _subject_values(session: Session, case_ids: list[int]) -> list[tuple[int, str]]:
    return list(
        session.execute(
            select(CaseSubject.case_id, Subject.value)
            .join(Subject, Subject.id == CaseSubject.subject_id)
            .where(CaseSubject.case_id.in_(case_ids))
        )
    )


def refresh(session: Session, case_ids: list[int]) -> None:
    """Rebuild the search documents of these cases (deleted cases lose theirs)."""
    documents = _documents(session, case_ids)
    table = CaseSearchDocument.__table__
    sqlite = session.get_bind().dialect.name == "sqlite"
    session.execute(delete(table).where(table.c.case_id.in_(case_ids)))
    if sqlite:
        session.execute(
            text(f"DELETE FROM case_search_fts WHERE rowid IN ({','.join(map(str, case_ids))})")
        )
    rows = [
        {"case_id": cid, "public_text": public, "privileged_text": private, "updated_at": utcnow()}
        for cid, (public, private) in documents.items()
    ]
    if rows:
        session.execute(insert(table), rows)
        if sqlite:
            session.execute(
                text(
                    "INSERT INTO case_search_fts (rowid, public_text, privileged_text) "
                    "VALUES (:case_id, :public_text, :privileged_text)"
                ),
                rows,
            )


def _words(query: str) -> list[str]:
    return _WORD.findall(query)[:20]


def _matches(words: list[str], privileged: bool) -> Any:
    """A select of the ids of the cases whose document matches every word (index only)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite":
        # Each word quoted (no FTS syntax from users), the last one as a prefix.
        terms = " ".join(f'"{w}"' for w in words[:-1]) + f' "{words[-1]}"*'
        match = terms if privileged else "{public_text}: (" + terms + ")"
        ids = text("SELECT rowid FROM case_search_fts WHERE case_search_fts MATCH :match")
        return ids.bindparams(match=match).columns(rowid=BigId)
    doc = CaseSearchDocument.__table__
    vector = (
        "to_tsvector('simple', public_text || ' ' || privileged_text)"
        if privileged
        else "to_tsvector('simple', public_text)"
    )
    tsquery = " & ".join(w.replace("'", "") + ":*" for w in words)
    return select(doc.c.case_id).where(
        text(f"{vector} @@ to_tsquery('simple', :tsq)").bindparams(tsq=tsquery)
    )


def filter_matching(statement: Select, case_id_column: Any, query: str, privileged: bool) -> Select:
    """Restrict a select of cases to those whose document matches every word of `query`.

    `privileged` (counsel only) also searches the text of privileged notes.
    """
    words = _words(query)
    if not words:
        return statement
    matches = _matches(words, privileged)
    if db.session.get_bind().dialect.name == "sqlite":
        return statement.where(case_id_column.in_(matches))
    # MATERIALIZED: match through the GIN index first. Left to itself the planner may walk the
    # cases in sort order and compute each one's tsvector on the fly (90 ms at 100,000 cases).
    matching = matches.cte("search_matches").prefix_with("MATERIALIZED")
    return statement.where(case_id_column.in_(select(matching.c.case_id)))


def count_matching(query: str, privileged: bool, limit: int) -> int | None:
    """How many cases match `query` (at most `limit`), counted in the search index alone.

    Every case has exactly one document, so this equals counting the matching cases, without
    reading each matching case's row. None when the query has no words (nothing to count on).
    """
    words = _words(query)
    if not words:
        return None
    matches = _matches(words, privileged).subquery()
    return db.session.scalar(
        select(func.count()).select_from(select(matches).limit(limit).subquery())
    )


@dataclass(frozen=True)
class Snippet:
    """Why a case matched: where (title, summary, a note, a subject) and the words around."""

    where: str
    text: Markup  # escaped, the matching words in <mark>


SNIPPET_CONTEXT = 70  # characters either side of the first matching word
SNIPPETS_PER_CASE = 2


def _pattern(query: str) -> re.Pattern[str] | None:
    words = [w for w in _words(query) if len(w) > 1 or w.isdigit()]
    if not words:
        return None
    # The search matches words and, for the last one, prefixes; so do the marks.
    alternatives = [re.escape(query.strip())] if len(words) > 1 else []
    alternatives += [
        re.escape(w) + (r"\w*" if i == len(words) - 1 else r"\b") for i, w in enumerate(words)
    ]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


def _cut(text: str, pattern: re.Pattern[str]) -> Markup | None:
    found = pattern.search(text)
    if found is None:
        return None
    start = max(found.start() - SNIPPET_CONTEXT, 0)
    end = min(found.end() + SNIPPET_CONTEXT, len(text))
    window = " ".join(text[start:end].split())
    marked = Markup("").join(
        Markup("<mark>{}</mark>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(pattern.split(window))
    )
    return Markup("{}{}{}").format("… " if start else "", marked, " …" if end < len(text) else "")


def snippets(case_ids: list[int], query: str, privileged: bool) -> dict[int, list[Snippet]]:
    """For each listed case, up to two passages showing why it matched `query`.

    Read from the case's own fields, notes and subjects (not the search document, which has
    lost where each word came from). Privileged notes are read only for `privileged` (counsel)
    searches: a snippet never quotes a note its reader may not open.
    """
    found = _pattern(query)
    if found is None or not case_ids:
        return {}
    pattern = re.compile("(" + found.pattern + ")", found.flags)
    passages: dict[int, list[Snippet]] = {}

    def add(case_id: int, where: str, text: str | None) -> None:
        kept = passages.setdefault(case_id, [])
        if text and len(kept) < SNIPPETS_PER_CASE:
            cut = _cut(text, pattern)
            if cut is not None:
                kept.append(Snippet(where, cut))

    for case_id, title, summary, actor in db.session.execute(
        select(Case.id, Case.title, Case.summary, Case.suspected_actor).where(Case.id.in_(case_ids))
    ):
        add(case_id, "title", title)
        add(case_id, "summary", summary)
        add(case_id, "suspected actor", actor)
    notes = select(CaseNote.case_id, CaseNote.body, CaseNote.privileged).where(
        CaseNote.case_id.in_(case_ids)
    )
    if not privileged:
        notes = notes.where(CaseNote.privileged.is_(False))
    for case_id, body, is_privileged in db.session.execute(notes.order_by(CaseNote.id)):
        add(case_id, "privileged note" if is_privileged else "note", body)
    wanted = [c for c in case_ids if len(passages.get(c, ())) < SNIPPETS_PER_CASE]
    words = [w.lower() for w in _words(query)]
    if wanted and words:
        rows = db.session.execute(
            select(CaseSubject.case_id, Subject.type, Subject.value)
            .join(Subject, Subject.id == CaseSubject.subject_id)
            .where(
                CaseSubject.case_id.in_(wanted),
                *[func.lower(Subject.value).contains(w, autoescape=True) for w in words],
            )
            .limit(SNIPPETS_PER_CASE * len(wanted) * 4)
        )
        for case_id, kind, value in rows:
            add(case_id, kind.replace("_", " "), value)
    return {case_id: kept for case_id, kept in passages.items() if kept}


def refresh_after_merge(source: Any, target: Any, actor: Any) -> dict[str, int]:
    """Merge hook: a merge moves notes and subjects with bulk updates the flush hooks miss."""
    mark_dirty(db.session(), {source.id, target.id})
    return {}


# The session events that keep documents current (connected by compliance.hooks).
SESSION_LISTENERS = (
    ("before_flush", _collect),
    ("before_commit", _refresh_documents),
    ("after_rollback", _forget),
)
