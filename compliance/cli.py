"""The `compliance` command: a Flask CLI group that works from any directory."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import OperationalError

from compliance import create_app
from compliance.actor import Actor
from compliance.audit.context import new_request_id
from compliance.errors import OperationError
from compliance.extensions import db


def actor_option(command: Callable) -> Callable:
    """`--as EMAIL`: act as that user (role rules apply); without it, as the CLI operator."""
    return click.option(
        "--as",
        "as_email",
        metavar="EMAIL",
        default=None,
        help="Act as this user; role rules then apply. Default: the operator (cli:<os user>).",
    )(command)


# Exit codes, the same for every command (README "Exit codes"): scripts branch on them.
EXIT_OK = 0
EXIT_REFUSED = (
    1  # a rule refused it (workflow guard, role, four-eyes, stale version) or a check failed
)
EXIT_INVALID = 2  # bad usage or invalid input: fix the command and run it again
EXIT_FAILED = 3  # the system could not do it (storage full, database unavailable, a build failed)


def exit_code_for(error: OperationError) -> int:
    """The exit code of a refused or failed operation (its HTTP status says which kind)."""
    if error.status == 404 or error.status in (400, 413, 415, 422):
        return EXIT_INVALID  # an unknown case, packet or user is a mistake in the command too
    if error.status >= 500:
        return EXIT_FAILED
    return EXIT_REFUSED


def describe(error: OperationError) -> str:
    """One line: the message, then each detail as `field: message` (dotted paths, "" the root)."""
    details = error.details
    if isinstance(details, dict):
        parts = [f"{field}: {message}" for field, message in details.items()]
    elif isinstance(details, list):
        parts = [
            ("" if d.get("index") is None else f"item {d['index']} ")
            + f"{d.get('field') or '(root)'}: {d.get('message')}"
            for d in details
            if isinstance(d, dict)
        ]
    else:
        parts = []
    return error.message + (" (" + "; ".join(parts) + ")" if parts else "")


class CommandFailed(click.ClickException):
    """A one-line reason on stderr and the exit code of the table above."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def fail(error: OperationError) -> CommandFailed:
    """What a command raises for an operation's refusal: its reason and its exit code."""
    return CommandFailed(describe(error), exit_code_for(error))


def invalid(message: str) -> CommandFailed:
    """Bad usage or input the command itself detects (exit 2)."""
    return CommandFailed(message, EXIT_INVALID)


def print_json(data: Any) -> None:
    """`--json` output: one JSON document on stdout, nothing else."""
    click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True))


def json_option(command: Callable) -> Callable:
    """`--json`: print one JSON object instead of text (for scripts)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object on stdout (for scripts)."
    )(command)


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 date or date-time; a value without a zone is read as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise click.BadParameter(f"not an ISO 8601 date or time: {value}") from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def resolve_actor(as_email: str | None) -> Actor:
    if not as_email:
        return Actor.cli_operator()
    from compliance.auth.operations import find_user

    user = find_user(as_email)
    if user is None or not user.active:
        raise invalid(f"--as: no active user {as_email}")
    return Actor.for_user(user)


def transactional(command: Callable) -> Callable:
    """Run the command as one unit of work: commit on success, one-line reason on failure."""

    @wraps(command)
    @with_appcontext
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        new_request_id("cli-")
        try:
            result = command(*args, **kwargs)
            db.session.commit()
            return result
        except OperationError as error:
            db.session.rollback()
            raise fail(error) from error
        except OperationalError as error:
            db.session.rollback()
            reason = str(error.orig or error).splitlines()[0]
            raise CommandFailed(f"the database is unavailable: {reason}", EXIT_FAILED) from error

    return wrapped


class ComplianceGroup(FlaskGroup):
    """The command group; each capability's commands are loaded when a command is looked up.

    Loading them lazily (not at the end of this module) lets a capability's CLI module import
    this one for its helpers and groups, whichever of the two is imported first.
    """

    _capabilities_loaded = False

    def _load_capabilities(self) -> None:
        if ComplianceGroup._capabilities_loaded:
            return
        ComplianceGroup._capabilities_loaded = True
        for spec in COMMAND_GROUPS:
            module, attr = spec.split(":")
            command = getattr(importlib.import_module(module), attr)
            if command.name not in self.commands:
                self.add_command(command)

    def invoke(self, ctx: click.Context) -> Any:
        # The exit-code table holds for every command, including those that call an operation
        # outside `transactional`: a refusal that escapes one still exits with its code.
        try:
            return super().invoke(ctx)
        except OperationError as error:
            raise fail(error) from error
        except OperationalError as error:
            reason = str(error.orig or error).splitlines()[0]
            raise CommandFailed(f"the database is unavailable: {reason}", EXIT_FAILED) from error

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load_capabilities()
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_capabilities()
        return super().list_commands(ctx)


@click.group(cls=ComplianceGroup, create_app=create_app, add_default_commands=False)
def main() -> None:
    """Case management against unauthorized model distillation.

    \b
    Exit codes (every command):
      0  done
      1  refused by a rule (guard, role, stale version) or a check found a problem
      2  bad usage or invalid input (unknown option, invalid field, unknown case)
      3  the system could not do it (database unavailable, disk full, build failed)
    """


# ---------------------------------------------------------------- database
@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from compliance.migrate import upgrade

    upgrade(current_app.config["SQLALCHEMY_DATABASE_URI"], revision)
    click.echo(f"database at {revision}: {db.engine.url.render_as_string(hide_password=True)}")


# ---------------------------------------------------------------- users and tokens
@main.group("users")
def users_group() -> None:
    """People who use the system."""


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        raise invalid("no password on standard input")
    return line


@users_group.command("create")
@click.argument("email")
@click.option(
    "--role", required=True, type=click.Choice(["analyst", "counsel", "auditor", "admin"])
)
@click.option("--name", default="", help="Printed name, shown on sign-offs.")
@actor_option
@transactional
def users_create(email: str, role: str, name: str, as_email: str | None) -> None:
    """Create a user. The operator types the first password (a prompt or one line of stdin,
    never argv); with --as ADMIN the user gets an invitation link to choose their own, and a
    counsel or admin account waits for a second admin's confirmation."""
    from compliance.auth.operations import create_user, issue_invitation

    actor = resolve_actor(as_email)
    if actor.is_operator:
        user = create_user(actor, email, role, _read_password(), name)
        click.echo(f"created {user.email} ({user.role})")
        return
    user = create_user(actor, email, role, name=name)
    raw = issue_invitation(actor, user)
    waiting = "" if user.active else ", awaiting a second admin's confirmation"
    click.echo(f"created {user.email} ({user.role}{waiting})")
    click.echo(f"invitation (valid 3 days): /invite/{raw}")


@users_group.command("set-password")
@click.argument("email")
@actor_option
@transactional
def users_set_password(email: str, as_email: str | None) -> None:
    """Set a user's password (read like `users create`)."""
    from compliance.auth.operations import find_user, set_password

    user = find_user(email)
    if user is None:
        raise invalid(f"no user {email}")
    set_password(resolve_actor(as_email), user, _read_password())
    click.echo(f"password set for {user.email}")


@users_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["analyst", "counsel", "auditor", "admin"]))
@actor_option
@transactional
def users_set_role(email: str, role: str, as_email: str | None) -> None:
    """Give a user another role (audited with the role before and after)."""
    from compliance.auth.operations import find_user, set_role

    user = find_user(email)
    if user is None:
        raise invalid(f"no user {email}")
    grant = set_role(resolve_actor(as_email), user, role)
    if grant is not None:
        click.echo(f"grant {grant.id}: {user.email} becomes {role} once another admin confirms")
    else:
        click.echo(f"{user.email} is now {role}")


@users_group.command("confirm-grant")
@click.argument("grant_id", type=int)
@actor_option
@transactional
def users_confirm_grant(grant_id: int, as_email: str | None) -> None:
    """Confirm a pending counsel/admin grant (another admin, or the operator)."""
    from compliance.auth.operations import confirm_grant, get_grant

    grant = confirm_grant(resolve_actor(as_email), get_grant(grant_id))
    click.echo(f"{grant.user.email} is now {grant.role}")


@users_group.command("sign-out")
@click.argument("email")
@actor_option
@transactional
def users_sign_out(email: str, as_email: str | None) -> None:
    """End every session of a user at once (a lost laptop, a departure)."""
    from compliance.auth.operations import find_user, sign_out_everywhere

    user = find_user(email)
    if user is None:
        raise invalid(f"no user {email}")
    ended = sign_out_everywhere(resolve_actor(as_email), user)
    click.echo(f"{user.email}: {ended} session(s) ended")


@users_group.command("reset-2fa")
@click.argument("email")
@actor_option
@transactional
def users_reset_two_factor(email: str, as_email: str | None) -> None:
    """Clear a user's authenticator; they enrol again at their next sign-in."""
    from compliance.auth.operations import find_user, reset_two_factor

    user = find_user(email)
    if user is None:
        raise invalid(f"no user {email}")
    reset_two_factor(resolve_actor(as_email), user)
    click.echo(f"two-factor sign-in reset for {user.email}")


@users_group.command("list")
@with_appcontext
def users_list() -> None:
    """List users and their roles."""
    from sqlalchemy import select

    from compliance.auth.models import User

    for user in db.session.scalars(select(User).order_by(User.email)):
        click.echo(f"{user.email}\t{user.role}\t{'active' if user.active else 'inactive'}")


@main.group("tokens")
def tokens_group() -> None:
    """API tokens for detectors and scripts."""


@tokens_group.command("create")
@click.argument("name")
@click.option(
    "--scope", "scopes", multiple=True, required=True, type=click.Choice(["ingest", "read"])
)
@json_option
@actor_option
@transactional
def tokens_create(name: str, scopes: tuple[str, ...], as_json: bool, as_email: str | None) -> None:
    """Issue a token; it is printed once, alone on the last line.

    With --json: one object {id, name, scopes, token} instead (the token is still shown once).
    """
    from compliance.auth.operations import create_token

    token, raw = create_token(resolve_actor(as_email), name, list(scopes))
    if as_json:
        print_json({"id": token.id, "name": token.name, "scopes": token.scopes, "token": raw})
        return
    click.echo(f"token {token.id} '{token.name}' scopes={','.join(token.scopes)} (shown once):")
    click.echo(raw)


@tokens_group.command("list")
@with_appcontext
def tokens_list() -> None:
    """List tokens (never their values)."""
    from sqlalchemy import select

    from compliance.auth.models import ApiToken

    for t in db.session.scalars(select(ApiToken).order_by(ApiToken.id)):
        status = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}Z" if t.last_used_at else "never"
        click.echo(
            f"{t.id}\t{t.name}\t{','.join(t.scopes)}\t{t.prefix}…\tlast used {used}\t{status}"
        )


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@actor_option
@transactional
def tokens_revoke(token_id: int, as_email: str | None) -> None:
    """Revoke a token by id."""
    from compliance.auth.operations import revoke_token

    token = revoke_token(resolve_actor(as_email), token_id)
    click.echo(f"revoked token {token.id} '{token.name}'")


# ---------------------------------------------------------------- audit
@main.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A signed checkpoint file: prove the log still extends it (detects a cut tail).",
)
@click.option("--no-record", is_flag=True, help="Do not record the result in the audit trail.")
@with_appcontext
def audit_verify(checkpoints: tuple[str, ...], no_record: bool) -> None:
    """Recompute the whole chain; exit non-zero naming the first broken event."""
    from compliance.audit.chain import verify_chain
    from compliance.trail.checkpoints import (
        load_checkpoint_file,
        run_verification,
        verify_against_checkpoint,
    )

    new_request_id("cli-")
    for path in checkpoints:
        result = verify_against_checkpoint(load_checkpoint_file(path))
        if not result.ok:
            where = f" seq={result.bad_seq}" if result.bad_seq is not None else ""
            click.echo(f"audit chain BROKEN against {path}:{where} {result.problem}", err=True)
            sys.exit(1)
        click.echo(f"checkpoint seq={result.seq} OK: the log extends {path}")
    report = verify_chain() if no_record else run_verification(Actor.cli_operator())
    db.session.commit()
    if not report.ok:
        click.echo(f"audit chain BROKEN at seq={report.bad_seq}: {report.problem}", err=True)
        sys.exit(1)
    click.echo(
        f"audit chain OK: {report.count} events, head seq={report.head_seq} {report.head_hash}"
    )


# ---------------------------------------------------------------- cases
@main.group("case")
def case_group() -> None:
    """Work on cases from scripts."""


@case_group.command("transition")
@click.argument("ref")
@click.argument("state")
@click.option("--reason", default=None, help="Why (required to dismiss, return, or reopen a case).")
@click.option(
    "--action",
    "actions",
    multiple=True,
    type=click.Choice(["takedown", "referral"]),
    help="To approved: an action approved; repeat for several (--action takedown --action "
    "referral).",
)
@click.option("--outcome", default=None, help="To closed: the outcome.")
@click.option(
    "--expect-version",
    type=int,
    default=None,
    help="Refuse (exit 1) if the case changed since you read this version.",
)
@json_option
@actor_option
@transactional
def case_transition(
    ref: str,
    state: str,
    reason: str | None,
    actions: tuple[str, ...],
    outcome: str | None,
    expect_version: int | None,
    as_json: bool,
    as_email: str | None,
) -> None:
    """Move case REF to STATE (guards and role rules apply).

    STATE is one of reported, triage, investigating, legal_review, approved, action_taken,
    monitoring, closed, dismissed; a refused move exits 1 naming the guard that failed.
    """
    from compliance.cases.operations import get_case, transition_case
    from compliance.cases.workflow import TransitionRequest

    case = get_case(ref)
    step = transition_case(
        case,
        state,
        resolve_actor(as_email),
        TransitionRequest(reason, actions, outcome),
        expected_version=expect_version,
    )
    if as_json:
        db.session.flush()
        print_json(
            {"ref": case.ref, "from": step.from_state, "to": step.to_state, "version": case.version}
        )
        return
    click.echo(f"{case.ref}: {step.from_state} -> {step.to_state}")


@case_group.command("note")
@click.argument("ref")
@click.option("--privileged", is_flag=True, help="Attorney-client privileged (counsel only).")
@click.option("--text", "body", default=None, help="Note text; read from stdin when omitted.")
@actor_option
@transactional
def case_note(ref: str, privileged: bool, body: str | None, as_email: str | None) -> None:
    """Add a Markdown note to case REF."""
    from compliance.cases.operations import add_note, get_case

    text = body if body is not None else sys.stdin.read()
    note = add_note(get_case(ref), resolve_actor(as_email), text, privileged=privileged)
    click.echo(f"note {note.id} added to {ref}{' (privileged)' if privileged else ''}")


@case_group.command("hold")
@click.argument("ref")
@click.option("--reason", required=True, help="Why the case's records must be preserved.")
@actor_option
@transactional
def case_hold(ref: str, reason: str, as_email: str | None) -> None:
    """Place a legal hold on case REF (counsel): its records may not be deleted until released."""
    from compliance.cases.operations import get_case, place_hold

    case = place_hold(get_case(ref), resolve_actor(as_email), reason)
    click.echo(f"{case.ref}: legal hold placed")


@case_group.command("release")
@click.argument("ref")
@click.option("--reason", required=True, help="Why the hold is no longer needed.")
@actor_option
@transactional
def case_release(ref: str, reason: str, as_email: str | None) -> None:
    """Release the legal hold on case REF (counsel), recording why."""
    from compliance.cases.operations import get_case, release_hold

    case = release_hold(get_case(ref), resolve_actor(as_email), reason)
    click.echo(f"{case.ref}: legal hold released")


# ---------------------------------------------------------------- demo and serving
@main.command("demo")
@with_appcontext
def demo() -> None:
    """Load demo users and realistic cases (idempotent), then return."""
    from compliance.demo import load_demo

    new_request_id("cli-demo-")
    load_demo(echo=click.echo)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app (gunicorn when available, else the Flask server)."""
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    if os.path.exists(gunicorn):
        os.execv(  # noqa: S606 - replace this process with the server
            gunicorn,
            [
                gunicorn,
                "-w",
                str(workers),
                "-b",
                f"{host}:{port}",
                "--access-logfile",
                "-",
                "compliance:create_app()",
            ],
        )
    create_app().run(host=host, port=port)


# Each capability adds its command group here (module path, attribute).
COMMAND_GROUPS: list[str] = [
    "compliance.trail.cli:audit_group",
    "compliance.evidence.cli:ingest",
    "compliance.evidence.cli:evidence_group",
    "compliance.reviews.cli:scheduler_command",
    "compliance.reviews.cli:reviews_group",
    "compliance.policies.cli:policies_group",
    "compliance.packets.cli:packet_group",
    "compliance.intel.cli:intel_group",
    "compliance.cases.cli:case_group",
    "compliance.notices.cli:notice_group",
    "compliance.notices.watch_cli:notice_group",  # check-identifier, deadlines
    "compliance.notices.cli:recipient_group",
    "compliance.backup.cli:backup_command",
    "compliance.backup.cli:restore_command",
]
