"""Packet build time for a case with 300 exhibits, as a ratio to a raw WeasyPrint render.

Both sides run in this process on the same machine, one after the other. The packet side is
the whole build: gathering the case, its exhibits (every blob re-hashed), clauses and custody
from the database, redaction, Jinja, layout, Bates reservation, PDF/A-3b writing with embedded
evidence, hashing and write-once storage. The reference is `weasyprint.HTML(string=html)
.write_pdf()` of the same final HTML with the same stylesheets, measured once before and once
after the build (the mean), after a warm-up render. Peak memory is the process's
maximum resident set size after the build. BENCH_PACKET_EXHIBITS overrides the exhibit count.
"""

from __future__ import annotations

import base64
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.3


def _findings(count: int) -> list[dict[str, Any]]:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    kinds = ["query_fingerprint", "rate_anomaly", "cot_elicitation", "coverage_sweep"]
    out = []
    for i in range(count):
        begin = start + timedelta(hours=7 * i)
        out.append(
            {
                "schema": "distillation-finding/v1",
                "detector": {"name": f"detector-{kinds[i % 4]}", "version": "2.3.1"},
                "external_id": f"bench-packet-{i:05d}",
                "kind": kinds[i % 4],
                "observed_from": begin.isoformat().replace("+00:00", "Z"),
                "observed_to": (begin + timedelta(hours=30)).isoformat().replace("+00:00", "Z"),
                "confidence": 0.9,
                "severity": "high",
                "subjects": [
                    {"type": "account", "id": f"acct_bench_{i % 40:03d}"},
                    {"type": "ip_prefix", "id": f"10.{i % 200}.0.0/16"},
                ],
                "metrics": {"requests": 10_000 + i * 37, "accounts": 12, "similarity": 0.97},
                "summary": f"Templated prompts from cluster {i} across 12 accounts.",
                "attachments": [
                    {
                        "name": f"cluster-{i:05d}.csv",
                        "media_type": "text/csv",
                        "content_base64": base64.b64encode(
                            f"cluster,accounts\n{i},12\n".encode()
                        ).decode(),
                    }
                ],
            }
        )
    return out


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(quick: bool = False) -> list[dict[str, Any]]:
    import weasyprint
    from weasyprint.css.counters import CounterStyle

    from compliance import PROJECT_ROOT, create_app
    from compliance.actor import Actor
    from compliance.auth.operations import create_user
    from compliance.cases.operations import create_case, transition_case
    from compliance.cases.workflow import TransitionRequest
    from compliance.evidence.operations import ingest_findings
    from compliance.extensions import db
    from compliance.migrate import upgrade
    from compliance.packets import operations, render
    from compliance.packets.context import toc
    from compliance.packets.tasks import build_packet
    from compliance.policies.operations import cite_clause, find_clause, sync_policies

    exhibits = int(__import__("os").environ.get("BENCH_PACKET_EXHIBITS", 30 if quick else 300))
    workdir = Path(tempfile.mkdtemp(prefix="bench-packets-"))
    try:
        url = f"sqlite:///{workdir}/bench.db"
        upgrade(url)
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(workdir / "instance"),
                "EVIDENCE_DIR": str(workdir / "evidence"),
            }
        )
        with app.app_context():
            operator = Actor.cli_operator()
            users = [
                create_user(operator, f"{r}{n}@bench.example", r, "x" * 16, r)
                for n, r in enumerate(("analyst", "counsel", "analyst"))
            ]
            for user in users[1:]:
                operations.set_signatory_profile(
                    user,
                    operator,
                    {
                        "full_name": user.name,
                        "title": "Bench",
                        "organisation": "Bench lab",
                        "postal_address": "1 Bench Street",
                        "phone": "+1 415 555 0100",
                        "email": user.email,
                        "records_custodian": user.role == "analyst",
                        "custodian_qualification": "Keeps the store.",
                    },
                )
            analyst, counsel = (Actor.for_user(u) for u in users[:2])
            sync_policies(operator, PROJECT_ROOT / "policies")
            case = create_case(
                analyst,
                title="Bench campaign",
                summary="A **large** campaign.",
                owner_id=analyst.user_id,
                incident_start=datetime(2026, 10, 1, tzinfo=UTC),
                incident_end=datetime(2026, 12, 31, tzinfo=UTC),
            )
            findings = _findings(exhibits)
            for start in range(0, len(findings), 100):
                ingest_findings(findings[start : start + 100], analyst, into_case=case)
            cite_clause(case, analyst, find_clause("api-terms@2026-03#4.2"), "Extraction.")
            for target, who in (
                ("triage", analyst),
                ("investigating", analyst),
                ("legal_review", analyst),
                ("approved", counsel),
            ):
                transition_case(case, target, who, TransitionRequest(actions=("referral",)))
            # The preview is built first (not measured); the measured build is the final one.
            preview = operations.request_packet(
                case,
                "referral",
                counsel,
                fields={
                    "recipient": "Bench agency",
                    "agency_contact": "Agent Bench",
                    "narrative": "A large campaign.",
                    "custodian": users[2].email,
                },
            )
            db.session.commit()
            build_packet(preview.id, sign=False)
            packet = operations.request_final(preview, counsel)
            db.session.commit()

            def html_of(packet: Any) -> str:
                doc = operations.document_of(operations.gather(packet))
                context = {**doc.context, "toc": toc(doc.context)}
                return render.render_html(
                    "referral", {**context, "document_created": doc.gathered.built_at}
                )

            def raw_render(html: str, first: int) -> float:
                counters = CounterStyle()
                bates = render.bates_css(render.Bates(app.config["BATES_PREFIX"], first))
                began = time.perf_counter()
                weasyprint.HTML(string=html).write_pdf(
                    stylesheets=[
                        weasyprint.CSS(string=render.stylesheet_text(), counter_style=counters),
                        weasyprint.CSS(string=bates, counter_style=counters),
                    ],
                    counter_style=counters,
                )
                return time.perf_counter() - began

            # Warm fonts and Pango once, then measure the reference on both sides of the build
            # so neither side profits from the other's warm caches.
            raw_render("<p>warm-up</p>", 1)
            html = html_of(packet)
            raw_before = raw_render(html, operations.counter_value(app.config["BATES_PREFIX"]) + 1)
            started = time.perf_counter()
            result = build_packet(packet.id, sign=False)
            build_seconds = time.perf_counter() - started
            if result.pdf is None:
                raise RuntimeError(f"bench packet failed: {result.packet.failure_reason}")
            peak = _peak_rss_mib()
            built = result.packet
            html = html_of(built)
            raw_seconds = (raw_before + raw_render(html, built.bates_first)) / 2
            pages = built.page_count
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = build_seconds / raw_seconds
    return [
        {
            "name": f"packet build, {exhibits} exhibits ({pages} pages)",
            "measured": build_seconds,
            "reference": raw_seconds,
            "ratio": ratio,
            "target": f"<= {TARGET_RATIO}",
            "unit": "s",
            "passed": None if quick else ratio <= TARGET_RATIO,
        },
        {
            "name": f"packet build peak memory, {exhibits} exhibits",
            "measured": peak,
            "reference": None,
            "ratio": None,
            "target": None,
            "unit": "MiB",
            "passed": None,
        },
    ]
