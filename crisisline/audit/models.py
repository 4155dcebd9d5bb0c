"""The append-only audit log, chained with a key kept outside the database."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.database import Base, utcnow

GENESIS_HASH = "0" * 64


class AuditFields:
    """What an entry says: who did what to which record, when, from where, with what outcome."""

    occurred_at: Mapped[datetime]
    actor_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    source_address: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)

    FIELDS = ("occurred_at", "actor_id", "actor_name", "actor_role", "action", "object_type",
              "object_id", "request_id", "source_address", "outcome", "changes")


class AuditEntry(AuditFields, Base):
    """One audited action. ``seq`` is gapless; ``hash`` is the HMAC (with the audit key) of
    the entry and ``prev_hash``."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_action", "action"),
                      Index("ix_audit_entries_actor_id", "actor_id"),
                      # the viewer's filters: one record's trail, a time range
                      Index("ix_audit_entries_object", "object_type", "object_id"),
                      Index("ix_audit_entries_occurred_at", "occurred_at"))

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def chained_fields(self) -> dict:
        """The fields the hash covers, in a stable, backend-independent form."""
        return chained_fields({name: getattr(self, name) for name in CHAINED})


CHAINED = ("seq", *AuditFields.FIELDS, "prev_hash")


def chained_fields(row) -> dict:
    """An entry's hashed fields from anything with them (a model or a database row)."""
    return {**{name: row[name] for name in CHAINED},
            "occurred_at": row["occurred_at"].astimezone(timezone.utc)
                                             .isoformat(timespec="microseconds")}


class AuditQueued(AuditFields, Base):
    """An entry committed with its change but not yet chained (PostgreSQL only).

    Many PostgreSQL transactions commit at once; chaining each inside its own transaction
    would make them take the chain head in turn. Instead an entry is queued here in the
    causing transaction and chained right after the commit, in batches, by whichever
    process holds the head at that moment (see ``crisisline.audit.services``).
    """

    __tablename__ = "audit_queue"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)

    def fields(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}


class AuditChainHead(Base):
    """The single row that sequences the chain: writers lock it to append.

    It is also the anchor that makes truncation detectable: deleting entries from the end
    leaves the head pointing past the last entry that is left, and pointing it back needs a
    new ``mac``, which only the audit key can make. ``last_check_id`` anchors the newest
    checkpoint the same way. ``key_id`` names the key the chain is kept with, so a process
    holding another key refuses to append instead of breaking the chain.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    last_check_id: Mapped[int | None]
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))


class AuditCheck(Base):
    """The result of one full walk of the chain (hourly, and `crisisline audit verify`).

    An intact check is a checkpoint: later pages verify only the entries after it, so the
    audit viewer's cost grows with what is new, not with the whole trail; and a chain that
    is later shorter than a checkpoint, or holds another entry at its ``entries``, fails.
    Checks are keyed (``mac``) and chained (``previous_id``; the head names the newest), so
    a forged, altered or deleted checkpoint is found too."""

    __tablename__ = "audit_checks"
    __audit_name__ = "audit_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    previous_id: Mapped[int | None]
    mac: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool]
    entries: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str | None] = mapped_column(String(64))  # of entry ``entries`` if ok
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger)
    problem: Mapped[str | None] = mapped_column(Text)
