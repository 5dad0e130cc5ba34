"""A realistic data set at a chosen scale, written through bulk paths for the page benchmarks.

    python -m bench.seed --cases 100000 [--database-url URL] [--scale-findings 10]

Defaults: 100,000 cases in every state (owners, severities, incident windows, next reviews,
legal holds, their transitions), 10 findings per case with subjects and evidence items (one
case gets 500 findings: the evidence-tab benchmark), an audit event per 0.1 case... see
`Scale`. Rows go straight to the DBAPI (executemany on SQLite, COPY on PostgreSQL): the ORM
would spend minutes on a million rows. The audit chain is valid (`stored_row`) and the search
documents are filled the way `compliance.cases.search.refresh` fills them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BATCH = 50_000
PASSWORD = "bench-password-not-secret"
BIG_CASE_FINDINGS = 500
# Cases sharing one payment fingerprint: a fixed group size keeps "other cases sharing this
# subject" the same length at every scale, as it is in real campaigns.
SHARED_GROUP = 20
HANDLES = [
    f"{a}{b}"
    for a in ("quantum", "blue", "silver", "night", "delta", "crimson", "iron", "echo", "nova")
    for b in ("harvest", "falcon", "mirror", "lattice", "forge", "relay", "orchard", "vector")
]  # 72 seller handles: a text search for one matches ~1.4% of cases at any scale
# Weights chosen so the filtered list the benchmark pages (severity=medium) has > 200 pages
# at 10,000 cases too.
SEVERITY_WEIGHTS = (("low", 15), ("medium", 55), ("high", 22), ("critical", 8))
PATH = ("reported", "triage", "investigating", "legal_review", "approved", "action_taken")
STATE_WEIGHTS = (
    ("reported", 12),
    ("triage", 10),
    ("investigating", 22),
    ("legal_review", 6),
    ("approved", 3),
    ("action_taken", 4),
    ("monitoring", 8),
    ("closed", 25),
    ("dismissed", 10),
)
OPEN = {"reported", "triage", "investigating", "legal_review", "approved", "action_taken"}
OPEN.add("monitoring")
# Relative to the real clock: the pages compare review dates with "now".
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Scale:
    cases: int = 100_000
    findings_per_case: float = 10.0
    audit_events: int = 1_000_000
    reviews: int = 20_000
    packets: int = 2_000

    @classmethod
    def for_cases(cls, cases: int, findings_per_case: float = 10.0) -> Scale:
        """Everything else in proportion to the case count (the brief's 100k/1M/1M/20k/2k)."""
        return cls(
            cases=cases,
            findings_per_case=findings_per_case,
            audit_events=cases * 10,
            reviews=max(cases // 5, 10),
            packets=max(cases // 50, 5),
        )


@dataclass
class Seeded:
    """What the benchmarks need to know about the data set."""

    database_url: str
    evidence_dir: str
    login_email: str
    big_case_ref: str
    search_word: str
    cases: int
    findings: int
    audit_events: int
    seconds: float


class Sink:
    """Bulk rows into one table: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if not self.sqlite and parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.engine = create_engine(parsed)
        self.raw = self.engine.raw_connection()
        self.dbapi = self.raw.driver_connection
        if self.sqlite:
            self.dbapi.isolation_level = None
            # The seed connection only: nothing here must survive a crash, and the page
            # benchmarks run on a normal (WAL, synchronous) connection afterwards.
            for pragma in (
                "journal_mode=OFF",
                "synchronous=OFF",
                "cache_size=-400000",
                "temp_store=MEMORY",
                "foreign_keys=OFF",
            ):
                self.dbapi.execute(f"PRAGMA {pragma}")
            self.dbapi.execute("BEGIN")

    def ts(self, value: datetime | None) -> str | None:
        """A UTC time as each database's text form takes it (SQLAlchemy's SQLite format)."""
        if value is None:
            return None
        text = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return text if self.sqlite else text + "+00"

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        if self.sqlite:
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    self.dbapi.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                self.dbapi.executemany(sql, batch)
                count += len(batch)
            return count
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.dbapi.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.sqlite:
            self.dbapi.execute(sql, params)
        else:
            with self.dbapi.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), params)

    def finish(self) -> None:
        if self.sqlite:
            self.dbapi.execute("COMMIT")
            self.dbapi.execute("ANALYZE")
        else:
            self.dbapi.commit()
            # Sequences behind the ids we wrote ourselves, so the app's inserts do not collide.
            with self.dbapi.cursor() as cursor:
                for table in (
                    "users",
                    "cases",
                    "case_transitions",
                    "findings",
                    "evidence_items",
                    "custody_events",
                    "subjects",
                    "case_subjects",
                    "review_schedules",
                    "reviews",
                    "packets",
                ):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                    )
            self.dbapi.commit()
            self.dbapi.autocommit = True
            with self.dbapi.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        self.raw.close()
        self.engine.dispose()


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]], count: int) -> list[str]:
    names = [name for name, _ in pairs]
    return rng.choices(names, weights=[w for _, w in pairs], k=count)


def _path_to(state: str) -> list[str]:
    """The states a case passed through to reach `state` (the usual route through the flow)."""
    if state in PATH:
        return list(PATH[: PATH.index(state) + 1])
    if state == "monitoring":
        return [*PATH, "monitoring"]
    if state == "closed":
        return [*PATH, "monitoring", "closed"]
    return ["reported", "triage", "dismissed"]


def _blobs(evidence_dir: Path) -> list[tuple[str, int]]:
    """A handful of real blobs that a million evidence rows share (no million files)."""
    from compliance.evidence.store import FilesystemStore

    store = FilesystemStore(evidence_dir)
    out = []
    for number in range(8):
        data = json.dumps({"bench": number, "detector": "query-fingerprint"}).encode() * 20
        digest, _created = store.put(data)
        out.append((digest, len(data)))
    return out


def _prepare(url: str, instance: Path) -> tuple[Any, str, list[int]]:
    """Migrate, create the benchmark's login users through the real operations."""
    from compliance import create_app
    from compliance.actor import Actor
    from compliance.auth.operations import create_user
    from compliance.extensions import db
    from compliance.migrate import upgrade

    upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(instance),
            "EVIDENCE_DIR": str(instance / "evidence"),
        }
    )
    email = "bench.counsel@lab.example"
    with app.app_context():
        operator = Actor.cli_operator()
        ids = []
        for number, role in enumerate(("counsel", "analyst", "auditor")):
            user = create_user(
                operator,
                email if number == 0 else f"bench.{role}@lab.example",
                role,
                PASSWORD,
                f"Bench {role.title()}",
            )
            db.session.flush()
            ids.append(user.id)
        db.session.commit()
        # Creating the users wrote audit events: the seeded chain continues from their head.
        head = db.session.execute(
            db.text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        ).first()
        db.session.remove()
        db.engine.dispose()
    return app, email, [*ids, head]


def seed(
    database_url: str,
    scale: Scale,
    instance: Path,
    *,
    progress: bool = True,
    rng_seed: int = 20261101,
) -> Seeded:
    """Fill a fresh database at `scale`; returns what the page benchmarks need."""
    from compliance.audit.chain import format_time, stored_row
    from compliance.evidence.models import FINDING_KINDS

    started = time.perf_counter()
    say = (
        (lambda text: print(f"  seed: {text}", file=sys.stderr, flush=True))
        if progress
        else (lambda text: None)
    )
    instance.mkdir(parents=True, exist_ok=True)
    _app, email, ids = _prepare(database_url, instance)
    counsel_id, analyst_id, _auditor_id, head_row = ids
    audit_head, audit_head_hash = (head_row[0], head_row[1]) if head_row else (0, None)
    blobs = _blobs(instance / "evidence")
    rng = random.Random(rng_seed)
    sink = Sink(database_url)
    ts = sink.ts
    n = scale.cases

    # Owners: one analyst or counsel per ~250 cases (the team grows with the caseload, so one
    # person's queue is the same size at every scale), besides the login users. They share a
    # copied password hash: they never sign in, and scrypt would cost 50 ms each.
    owner_ids = [counsel_id, analyst_id]
    first_user = 1000
    user_rows = []
    for number in range(max(n // 250, 40)):
        role = "counsel" if number % 5 == 0 else "analyst"
        uid = first_user + number
        owner_ids.append(uid)
        user_rows.append(
            (
                uid,
                f"{role}{number}@lab.example",
                f"{role.title()} {number:02d}",
                role,
                "scrypt:32768:8:1$x$0",
                True,
                0,
                ts(NOW - timedelta(days=400)),
            )
        )
    cols = ("id", "email", "name", "role", "password_hash", "active", "must_change_password")
    sink.insert("users", (*cols, "created_at"), user_rows)
    owner_names = {counsel_id: "Bench Counsel", analyst_id: "Bench Analyst"}
    owner_names.update({row[0]: row[2] for row in user_rows})

    states = _weighted(rng, STATE_WEIGHTS, n)
    severities = _weighted(rng, SEVERITY_WEIGHTS, n)
    refs = [f"DIST-2026-{i:06d}" for i in range(1, n + 1)]
    created = [NOW - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)) for _ in range(n)]
    handles = [HANDLES[rng.randrange(len(HANDLES))] for _ in range(n)]
    # The evidence-tab case: open, owned, with 500 findings.
    big = n // 2
    states[big - 1] = "investigating"

    # Search documents, built the way search.refresh builds them (title, summary, actor,
    # then subject values), so the FTS index holds what the app would put there.
    documents: dict[int, list[str]] = {}
    reviews_due: dict[int, datetime | None] = {}

    def case_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            state, severity = states[i - 1], severities[i - 1]
            made = created[i - 1]
            updated = min(made + timedelta(minutes=rng.randrange(60 * 24 * 90)), NOW)
            owner = None if state == "reported" and rng.random() < 0.7 else rng.choice(owner_ids)
            handle = handles[i - 1]
            kind = FINDING_KINDS[i % len(FINDING_KINDS)].replace("_", " ")
            title = f"{kind.capitalize()} campaign by {handle} #{i}"
            summary = f"{rng.randrange(5, 400)} accounts sent templated prompts; seller {handle}."
            actor = f"{handle} reseller network"
            start = made - timedelta(days=rng.randrange(1, 60))
            # Mostly ahead, about 8% in the past: overdue reviews.
            review = NOW + timedelta(days=rng.randrange(-10, 120)) if state in OPEN else None
            reviews_due[i] = review
            hold = rng.random() < 0.03
            documents[i] = [title, summary, actor]
            yield (
                i,
                refs[i - 1],
                title,
                summary,
                state,
                severity,
                round(rng.uniform(0.4, 1.0), 3),
                actor,
                "US" if i % 3 else "EU",
                owner,
                ts(start),
                ts(start + timedelta(days=rng.randrange(1, 30))),
                rng.randrange(10_000, 5_000_000),
                json.dumps(["coding", "reasoning"][: 1 + i % 2]),
                json.dumps(["takedown"] if state in ("approved", "action_taken") else []),
                "Actor stopped" if state == "closed" else None,
                hold,
                "Litigation anticipated" if hold else None,
                ts(review),
                "cli:bench",
                ts(made),
                ts(updated),
                1 + len(_path_to(state)),
            )

    say(f"{n:,} cases")
    sink.insert(
        "cases",
        (
            "id",
            "ref",
            "title",
            "summary",
            "state",
            "severity",
            "confidence",
            "suspected_actor",
            "jurisdiction",
            "owner_id",
            "incident_start",
            "incident_end",
            "estimated_queries",
            "targeted_domains",
            "chosen_actions",
            "outcome",
            "legal_hold",
            "legal_hold_reason",
            "next_review_at",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ),
        case_rows(),
    )

    def transition_rows() -> Iterator[tuple[Any, ...]]:
        tid = 0
        for i in range(1, n + 1):
            path = _path_to(states[i - 1])
            when = created[i - 1]
            for before, after in zip(path, path[1:], strict=False):
                tid += 1
                when = when + timedelta(hours=rng.randrange(1, 24 * 20))
                yield (
                    tid,
                    i,
                    before,
                    after,
                    "user:analyst1@lab.example",
                    "Analyst 01",
                    owner_ids[2],
                    "bench",
                    ts(min(when, NOW)),
                )

    sink.insert(
        "case_transitions",
        (
            "id",
            "case_id",
            "from_state",
            "to_state",
            "actor",
            "actor_name",
            "actor_user_id",
            "reason",
            "occurred_at",
        ),
        transition_rows(),
    )

    # Subjects: each case has its own account and IP prefix; every SHARED_GROUP cases share
    # one payment fingerprint (correlation data the evidence tab shows).
    say("subjects")
    groups = (n + SHARED_GROUP - 1) // SHARED_GROUP
    subject_rows = []
    for i in range(1, n + 1):
        subject_rows.append((2 * i - 1, "account", f"acct_{i:07x}", ts(created[i - 1])))
        subject_rows.append(
            (2 * i, "ip_prefix", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32", ts(created[0]))
        )
    for g in range(groups):
        subject_rows.append((2 * n + 1 + g, "payment_fingerprint", f"pf_{g:06d}", ts(NOW)))
    sink.insert("subjects", ("id", "type", "value", "first_seen_at"), subject_rows)

    def case_subject_rows() -> Iterator[tuple[Any, ...]]:
        lid = 0
        for i in range(1, n + 1):
            for sid in (2 * i - 1, 2 * i, 2 * n + 1 + (i - 1) // SHARED_GROUP):
                lid += 1
                yield (lid, i, sid, None, ts(created[i - 1]))

    sink.insert(
        "case_subjects",
        ("id", "case_id", "subject_id", "first_finding_id", "linked_at"),
        case_subject_rows(),
    )
    for i in range(1, n + 1):
        g = (i - 1) // SHARED_GROUP
        documents[i] += [f"acct_{i:07x}", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32"]
        documents[i].append(f"pf_{g:06d}")

    total_findings = int(n * scale.findings_per_case)
    say(f"{total_findings:,} findings, evidence items and custody events")
    finding_case = [rng.randrange(1, n + 1) for _ in range(max(total_findings - 500, 0))]
    finding_case += [big] * min(BIG_CASE_FINDINGS, total_findings)
    finding_case.sort()  # rows arrive grouped by case, like detectors report campaigns
    metrics = json.dumps({"requests": 1_840_023, "accounts": 212, "template_similarity": 0.97})

    def finding_rows() -> Iterator[tuple[Any, ...]]:
        for fid, case_id in enumerate(finding_case, start=1):
            begin = created[case_id - 1] - timedelta(hours=rng.randrange(1, 2000))
            subjects = json.dumps(
                [
                    {"type": "account", "id": f"acct_{case_id:07x}"},
                    {"type": "payment_fingerprint", "id": f"pf_{(case_id - 1) // 20:06d}"},
                ]
            )
            yield (
                fid,
                "query-fingerprint",
                "2.3.1",
                f"qf-bench-{fid:08d}",
                FINDING_KINDS[fid % len(FINDING_KINDS)],
                severities[case_id - 1],
                0.9,
                ts(begin),
                ts(begin + timedelta(hours=6)),
                f"Templated prompts from the campaign of case {case_id}.",
                metrics,
                subjects,
                1,
                blobs[fid % len(blobs)][0],
                case_id,
                "token:bench detector",
                ts(begin + timedelta(hours=7)),
            )

    sink.insert(
        "findings",
        (
            "id",
            "detector_name",
            "detector_version",
            "external_id",
            "kind",
            "severity",
            "confidence",
            "observed_from",
            "observed_to",
            "summary",
            "metrics",
            "subjects",
            "sample_prompt_count",
            "content_sha256",
            "case_id",
            "ingested_by",
            "ingested_at",
        ),
        finding_rows(),
    )

    def item_rows() -> Iterator[tuple[Any, ...]]:
        for fid, case_id in enumerate(finding_case, start=1):
            sha, size = blobs[fid % len(blobs)]
            when = ts(created[case_id - 1])
            yield (
                fid,
                case_id,
                fid,
                "finding_record",
                f"finding-qf-bench-{fid:08d}.json",
                "",
                "application/json",
                sha,
                size,
                "query-fingerprint v2.3.1",
                "SHA-256 computed server-side",
                when,
                when,
                "token:bench detector",
            )

    sink.insert(
        "evidence_items",
        (
            "id",
            "case_id",
            "finding_id",
            "role",
            "name",
            "description",
            "media_type",
            "sha256",
            "size_bytes",
            "source",
            "hash_method",
            "collected_at",
            "created_at",
            "created_by",
        ),
        item_rows(),
    )

    def custody_rows() -> Iterator[tuple[Any, ...]]:
        for fid, case_id in enumerate(finding_case, start=1):
            yield (
                fid,
                fid,
                "ingested",
                "token:bench detector",
                "bench detector",
                None,
                ts(created[case_id - 1]),
                "received from the detector API",
            )

    sink.insert(
        "custody_events",
        ("id", "item_id", "action", "actor", "actor_name", "actor_role", "occurred_at", "purpose"),
        custody_rows(),
    )

    say(f"{scale.audit_events:,} audit events (hash chain)")
    actions = ("case.updated", "note.added", "case.transition", "finding.ingested", "case.viewed")

    def audit_rows() -> Iterator[tuple[Any, ...]]:
        from compliance.audit.verify_export import GENESIS_HASH

        prev = audit_head_hash or GENESIS_HASH
        start = NOW - timedelta(days=365)
        step = timedelta(days=365) / max(scale.audit_events, 1)
        for offset in range(1, scale.audit_events + 1):
            seq = audit_head + offset
            case_id = rng.randrange(1, n + 1)
            row = stored_row(
                {
                    "seq": seq,
                    "occurred_at": format_time(start + step * offset),
                    "actor": f"user:analyst{seq % 40}@lab.example",
                    "action": actions[seq % len(actions)],
                    "object_type": "case",
                    "object_id": str(case_id),
                    "case_id": case_id,
                    "case_ref": refs[case_id - 1],
                    "changes": {"severity": {"before": "medium", "after": "high"}},
                    "details": None,
                    "request_id": f"bench-{seq:024x}",
                    "prev_hash": prev,
                }
            )
            prev = row["hash"]
            yield row["seq"], row["payload"], row["hash"]

    # The other columns are generated from the payload by the database.
    sink.insert(
        "audit_events",
        ("seq", "payload", "hash"),
        audit_rows(),
    )

    say("review schedules, reviews, packets, search documents")
    open_cases = [i for i in range(1, n + 1) if states[i - 1] in OPEN]

    def schedule_rows() -> Iterator[tuple[Any, ...]]:
        for sid, i in enumerate(open_cases, start=1):
            due = reviews_due[i] or NOW
            status = "overdue" if due < NOW else "scheduled"
            yield (sid, "case", "case", i, refs[i - 1], i, ts(due), status, ts(NOW), ts(NOW))

    sink.insert(
        "review_schedules",
        (
            "id",
            "kind",
            "subject_type",
            "subject_id",
            "subject_label",
            "case_id",
            "due_at",
            "status",
            "status_changed_at",
            "updated_at",
        ),
        schedule_rows(),
    )

    def review_rows() -> Iterator[tuple[Any, ...]]:
        for rid in range(1, scale.reviews + 1):
            i = open_cases[rng.randrange(len(open_cases))] if open_cases else 1
            when = created[i - 1] + timedelta(days=rng.randrange(1, 90))
            yield (
                rid,
                "case",
                "case",
                i,
                i,
                states[i - 1],
                analyst_id,
                "user:bench.analyst@lab.example",
                "Bench Analyst",
                ts(when),
                ("continue", "escalate")[rid % 2],
                "Still active.",
                ts(when),
                ts(when + timedelta(days=30)),
                f"bench-review-{rid:010d}",
            )

    sink.insert(
        "reviews",
        (
            "id",
            "kind",
            "subject_type",
            "subject_id",
            "case_id",
            "case_state",
            "reviewer_id",
            "reviewer",
            "reviewer_name",
            "reviewed_at",
            "outcome",
            "notes",
            "was_due_at",
            "next_review_at",
            "form_token",
        ),
        review_rows(),
    )

    acted = [
        i for i in range(1, n + 1) if states[i - 1] in ("approved", "action_taken", "monitoring")
    ] or [1]

    def packet_rows() -> Iterator[tuple[Any, ...]]:
        for pid in range(1, scale.packets + 1):
            i = acted[pid % len(acted)]
            when = created[i - 1] + timedelta(days=10)
            sent = pid % 3 != 0
            yield (
                pid,
                i,
                ("takedown", "referral", "memo")[pid % 3],
                False,
                "stored",
                json.dumps({"recipient": "Trust & Safety"}),
                "1",
                "EVD",
                pid * 40 + 1,
                pid * 40 + 40,
                40,
                hashlib.sha256(str(pid).encode()).hexdigest(),
                120_000,
                False,
                "user:bench.counsel@lab.example",
                "Bench Counsel",
                ts(when),
                ts(when),
                ts(when),
                ts(when) if sent else None,
            )

    sink.insert(
        "packets",
        (
            "id",
            "case_id",
            "packet_type",
            "draft",
            "status",
            "request_fields",
            "template_version",
            "bates_prefix",
            "bates_first",
            "bates_last",
            "page_count",
            "sha256",
            "size_bytes",
            "signed",
            "requested_by",
            "requested_by_name",
            "requested_at",
            "started_at",
            "built_at",
            "sent_on",
        ),
        packet_rows(),
    )
    sink.execute(
        "INSERT INTO bates_counters (prefix, last_number) VALUES (?, ?)",
        ("EVD", scale.packets * 40 + 40),
    )
    sink.execute("INSERT INTO case_ref_counters (year, last_number) VALUES (?, ?)", (2026, n))

    search_rows = [(i, "\n".join(parts), "", ts(NOW)) for i, parts in documents.items()]
    sink.insert(
        "case_search", ("case_id", "public_text", "privileged_text", "updated_at"), search_rows
    )
    if sink.sqlite:
        sink.insert(
            "case_search_fts",
            ("rowid", "public_text", "privileged_text"),
            (row[:3] for row in search_rows),
        )
    say("indexes statistics (ANALYZE)")
    sink.finish()
    elapsed = time.perf_counter() - started
    say(f"done in {elapsed:.1f} s")
    return Seeded(
        database_url=database_url,
        evidence_dir=str(instance / "evidence"),
        login_email=email,
        big_case_ref=refs[big - 1],
        search_word=HANDLES[7],
        cases=n,
        findings=total_findings,
        audit_events=scale.audit_events,
        seconds=elapsed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument(
        "--scale-findings", type=float, default=10.0, help="findings per case (default 10)"
    )
    parser.add_argument("--audit-events", type=int, help="default: 10 per case")
    parser.add_argument(
        "--database-url",
        help="an empty database (default: a new SQLite file under --instance)",
    )
    parser.add_argument("--instance", default="instance/bench", help="evidence blobs go here")
    args = parser.parse_args(argv)
    scale = Scale.for_cases(args.cases, args.scale_findings)
    if args.audit_events is not None:
        scale.audit_events = args.audit_events
    instance = Path(args.instance).resolve()
    url = args.database_url
    if url is None:
        instance.mkdir(parents=True, exist_ok=True)
        path = instance / f"bench-{args.cases}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    result = seed(url, scale, instance)
    print(
        f"seeded {result.cases:,} cases, {result.findings:,} findings, "
        f"{result.audit_events:,} audit events into {url.split('@')[-1]} "
        f"in {result.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
