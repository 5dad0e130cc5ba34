"""The Bates counter: continuous page numbers across packets, reserved in short transactions.

Bates reservation (why it is shaped like this): the page count is only known after layout,
and the numbers are part of the layout. Holding the counter's row lock for a whole render would
serialise every writer for seconds (on SQLite, the whole database). So a build lays the
document out once with the *expected* first number (the counter's last value + 1; numbers are
fixed width, so the page count does not depend on them), then, in one short transaction that
also records the range on the packet, locks the counter row (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's write lock) and advances it only if it still holds the expected value.
If another build reserved first, the layout is redone with the new offset (rare). Ranges are
therefore continuous and never overlap; a build that fails after its range was committed
records the range as a gap, and the counter never goes back.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.extensions import db
from compliance.packets.models import BatesCounter, Packet


def counter_value(prefix: str) -> int:
    """The last Bates number issued for `prefix` (0 before the first packet)."""
    return (
        db.session.scalar(select(BatesCounter.last_number).where(BatesCounter.prefix == prefix))
        or 0
    )


def _ensure_counter(prefix: str) -> None:
    if db.session.get(BatesCounter, prefix) is None:
        try:
            with db.session.begin_nested():
                db.session.add(BatesCounter(prefix=prefix, last_number=0))
        except IntegrityError:
            pass  # created concurrently: fine, it exists


def reserve_range(
    prefix: str, count: int, expected_last: int, *, packet: Packet | None = None
) -> int | None:
    """Advance the counter by `count` if it still stands at `expected_last`; first number or None.

    Runs in the caller's transaction, which must commit promptly: the row stays locked until then.
    The reservation is audited (for `packet` when given): Bates numbers are never spent silently.
    """
    if count < 1:
        raise ValueError("a range has at least one number")
    _ensure_counter(prefix)
    current = db.session.scalar(
        select(BatesCounter.last_number)
        .where(BatesCounter.prefix == prefix)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if current != expected_last:
        return None
    db.session.execute(
        update(BatesCounter)
        .where(BatesCounter.prefix == prefix, BatesCounter.last_number == expected_last)
        .values(last_number=expected_last + count)
    )
    first, last = expected_last + 1, expected_last + count
    record(
        "packet.bates_reserved",
        actor=Actor.system("packet-build"),
        object_type="packet" if packet is not None else "bates_counter",
        object_id=packet.id if packet is not None else prefix,
        case=packet.case if packet is not None else None,
        details={"prefix": prefix, "first": first, "last": last},
    )
    return first
