"""The append-only, hash-chained audit log."""
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
    """One audited action. ``seq`` is gapless; ``hash`` covers the entry and ``prev_hash``."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_action", "action"),
                      Index("ix_audit_entries_actor_id", "actor_id"))

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def chained_fields(self) -> dict:
        """The fields the hash covers, in a stable, backend-independent form."""
        return {
            "seq": self.seq,
            "occurred_at": self.occurred_at.astimezone(timezone.utc)
                                .isoformat(timespec="microseconds"),
            **{name: getattr(self, name) for name in self.FIELDS if name != "occurred_at"},
            "prev_hash": self.prev_hash,
        }


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
    leaves the head pointing past the last entry that is left.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditCheck(Base):
    """The result of one full walk of the chain (hourly, and `crisisline audit verify`).

    An intact check is a checkpoint: later pages verify only the entries after it, so the
    audit viewer's cost grows with what is new, not with the whole trail."""

    __tablename__ = "audit_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool]
    entries: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str | None] = mapped_column(String(64))  # of entry ``entries`` if ok
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger)
    problem: Mapped[str | None] = mapped_column(Text)
