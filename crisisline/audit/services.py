"""Recording and verifying the audit trail.

``record()`` queues an entry on the current transaction. Just before that transaction
commits, the entries are written with it, so an entry exists exactly when the change it
describes was committed. Chaining gives each entry the next ``seq`` and a SHA-256 over its
fields and the previous hash, under the chain head row's lock, so the chain stays linear
however many processes write at once. Where that happens depends on the database:

- SQLite has one writer at a time anyway: the entries are chained inside the committing
  transaction, which already holds the database's write lock.
- PostgreSQL commits many transactions at once, and a head lock that each waited for and
  held to its commit let them through one by one (see bench/README.md). So a transaction
  takes the head only if it is free (``SKIP LOCKED``): then it chains its entries, and any
  queued ones, as SQLite does; when another holds the head, it writes its entries to
  ``audit_queue`` instead, commits without waiting, and tries to chain the queue once its
  connection is back in the pool. Whatever is still queued then is chained by the next
  transaction that takes the head, the 5 s sweep, or ``crisisline audit verify``.
"""
from __future__ import annotations

import enum
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Iterable

from flask import g, has_request_context, request
from sqlalchemy import delete, event, inspect, select, text
from sqlalchemy.orm import Session

from crisisline.audit.models import (GENESIS_HASH, AuditChainHead, AuditCheck,
                                     AuditEntry, AuditQueued)
from crisisline.database import db, transaction_info, utcnow

SUCCESS, DENIED, FAILURE = "success", "denied", "failure"


@dataclass
class _Pending:
    action: str
    obj: Any
    object_type: str | None
    object_id: str | None
    outcome: str
    changes: dict
    actor: dict
    request_id: str | None
    source_address: str | None
    occurred_at: datetime


def record(action: str, obj: Any = None, *, outcome: str = SUCCESS, changes: dict | None = None,
           object_type: str | None = None, object_id: Any = None, actor: Any = None) -> None:
    """Queue an audit entry on the current transaction.

    ``obj`` may be a model instance (its type and id are taken at commit, so a new row's id
    is known); ``changes`` is usually :func:`diff` of the same instance, taken before flush.
    """
    pending = _Pending(
        action=action, obj=obj,
        object_type=object_type or (_object_type(obj) if obj is not None else None),
        object_id=None if object_id is None else str(object_id),
        outcome=outcome, changes=changes or {}, actor=_actor(actor),
        request_id=request_id(), source_address=_source_address(), occurred_at=utcnow())
    transaction_info("audit_pending").append(pending)


def record_read(obj: Any, *, actor: Any = None, via: str | None = None,
                part: str | None = None) -> None:
    """Audit a read of a sensitive record (PIPL art. 56; minors' data, art. 36): ``via``
    how access was given beyond the reader's scope (``break_glass``), ``part`` what of the
    record was read (e.g. a case's ``history``)."""
    changes = {key: value for key, value in (("via", via), ("part", part)) if value}
    record(f"{_object_type(obj)}.read", obj, actor=actor, changes=changes)


def diff(obj: Any) -> dict:
    """Field-level changes of a model instance since it was loaded, before flush.

    Columns marked ``info={"sensitive": True}`` are recorded as changed, without values.
    """
    state = inspect(obj)
    changes: dict[str, Any] = {}
    for column_attr in state.mapper.column_attrs:
        history = state.attrs[column_attr.key].history
        if not history.has_changes():
            continue
        column = column_attr.columns[0]
        if column.info.get("sensitive"):
            changes[column_attr.key] = {"changed": True}
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if state.pending or state.transient:
            old = None
        if old != new:
            changes[column_attr.key] = {"old": _plain(old), "new": _plain(new)}
    return changes


def request_id() -> str | None:
    if not has_request_context():
        return g.get("request_id") if _has_app_g() else None
    if "request_id" not in g:
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied[:64] if supplied.isprintable() and supplied else uuid.uuid4().hex
    return g.request_id


def entry_hash(fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session | None = None, batch: int = 5000) -> ChainReport:
    """Walk the whole chain; report the first entry that was edited, removed or moved."""
    return _verify(session or db(), GENESIS_HASH, 0, batch)


def verify_since_last_check(session: Session | None = None) -> tuple[AuditCheck | None,
                                                                      ChainReport]:
    """The last full check, and the chain verified from it (only the newer entries).

    Without an intact check to start from, the whole chain is walked."""
    session = session or db()
    last = session.scalar(select(AuditCheck).order_by(AuditCheck.id.desc()).limit(1))
    if last is None or not last.ok:
        return last, _verify(session, GENESIS_HASH, 0)
    return last, _verify(session, last.last_hash, last.entries)


def record_check(report: ChainReport, session: Session | None = None) -> AuditCheck:
    """Keep a full check's result (the caller commits); an intact one is a checkpoint."""
    session = session or db()
    last_hash = session.scalar(select(AuditEntry.hash).where(
        AuditEntry.seq == report.entries)) if report.ok and report.entries else GENESIS_HASH
    check = AuditCheck(ok=report.ok, entries=report.entries, first_bad_seq=report.first_bad_seq,
                       problem=report.problem, last_hash=last_hash if report.ok else None)
    session.add(check)
    return check


def _verify(session: Session, prev_hash: str, after_seq: int, batch: int = 5000
            ) -> ChainReport:
    rows = session.execute(select(AuditEntry).where(AuditEntry.seq > after_seq)
                           .order_by(AuditEntry.seq).execution_options(yield_per=batch)
                           ).scalars()
    try:
        return _walk(session, rows, prev_hash, after_seq)
    finally:
        rows.close()  # a server-side cursor on PostgreSQL: stopping early must close it


def _walk(session: Session, rows: Iterable[AuditEntry], prev_hash: str, count: int
          ) -> ChainReport:
    expected_seq = count + 1
    for entry in rows:
        if entry.seq != expected_seq:
            missing = expected_seq if entry.seq > expected_seq else entry.seq
            return ChainReport(False, count, missing,
                               f"entry {missing} is missing or out of order")
        if entry.prev_hash != prev_hash:
            return ChainReport(False, count, entry.seq,
                               f"entry {entry.seq} does not follow entry {entry.seq - 1}")
        if entry_hash(entry.chained_fields()) != entry.hash:
            return ChainReport(False, count, entry.seq, f"entry {entry.seq} was altered")
        prev_hash, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    head = session.get(AuditChainHead, 1)
    last_seq = head.last_seq if head else 0
    if head is None or head.last_seq != count or head.last_hash != prev_hash:
        return ChainReport(False, count, count + 1,
                           f"the chain ends at entry {count} but the head records entry "
                           f"{last_seq}: entries were removed from the end")
    return ChainReport(True, count)


# -- chaining ------------------------------------------------------------------------------

CHAIN_BATCH = 500
REQUEST_PASSES = 3  # a request chains others' entries for a moment, not for a burst


@event.listens_for(Session, "before_commit")
def _write_pending_entries(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the entries go with the real commit
    pending: list[_Pending] = session.info.pop("audit_pending", [])
    if not pending:
        return
    session.flush()  # new rows get their ids before the entries name them
    entries = [_entry_fields(item) for item in pending]
    if session.get_bind().dialect.name == "sqlite":
        _append_to_chain(session, entries)
        return
    head = _head_unless_busy(session)
    if head is not None:  # nobody else is chaining: chain here, and whatever was queued
        _chain_with_queued(session, head, entries)
    else:
        session.add_all(AuditQueued(**fields) for fields in entries)
        session.flush()
    # either way, look at the queue again once committed: whoever held the head meanwhile
    # skipped, leaving its entries to this transaction (chaining here) or to the holder
    session.info["audit_recheck"] = session.get_bind()


@event.listens_for(Session, "after_transaction_end")
def _chain_queued_entries(session: Session, transaction) -> None:
    """Chain once the transaction has given its connection back: a request waiting for a
    second connection while holding its first would drain the pool under load, every
    holder waiting for another. (After a failed commit this only finds nothing to do.)"""
    bind = session.info.pop("audit_recheck", None) if transaction.parent is None else None
    if bind is None:
        return
    try:
        chain_queued(bind, passes=REQUEST_PASSES)
    except Exception:  # noqa: BLE001  (the change is committed; the sweep chains it)
        logging.getLogger("crisisline").exception("chaining queued audit entries failed")


def chain_queued(bind=None, *, passes: int | None = None) -> int:
    """Chain the queued entries, a batch a pass, until none is left or after ``passes``
    passes; returns how many. Each pass looks again after its commit, as every holder of
    the head does, because committers that found the head busy left their entries to it.

    Gives up at once when another transaction holds the chain head: it chains whatever is
    queued when it takes the head, and what is queued after that is chained by the next
    transaction to take it, the committer's own try after its commit, or the sweep."""
    chained = 0
    while True:
        with Session(bind=bind or db().get_bind(),
                     join_transaction_mode="create_savepoint") as session:
            if session.scalar(select(AuditQueued.id).limit(1)) is None:
                return chained
            head = _head_unless_busy(session)
            if head is None:
                return chained
            # no need to wait for the disk: a chaining lost in a crash loses nothing, its
            # entries are still queued (committed, durably, with their changes)
            session.execute(text("SET LOCAL synchronous_commit = off"))
            count = _chain_with_queued(session, head, [])
            session.commit()
            chained += count
            passes = None if passes is None else passes - 1
            if not count or passes == 0:
                return chained  # under a sustained burst, the next holder or the sweep


def _head_unless_busy(session: Session) -> AuditChainHead | None:
    return session.execute(select(AuditChainHead).where(AuditChainHead.id == 1)
                           .with_for_update(skip_locked=True)
                           .execution_options(populate_existing=True)).scalar_one_or_none()


def _chain_with_queued(session: Session, head: AuditChainHead, entries: list[dict]) -> int:
    """Chain the queued entries (oldest first, a batch at most), then ``entries``."""
    queued = session.scalars(select(AuditQueued).order_by(AuditQueued.id)
                             .limit(CHAIN_BATCH)).all()
    _append_to_chain(session, [item.fields() for item in queued] + entries, head)
    if queued:
        session.execute(delete(AuditQueued).where(
            AuditQueued.id.in_([item.id for item in queued])))
    return len(queued) + len(entries)


def _entry_fields(item: _Pending) -> dict:
    return {"occurred_at": item.occurred_at.astimezone(timezone.utc),
            "actor_id": item.actor["id"], "actor_name": item.actor["name"],
            "actor_role": item.actor["role"], "action": item.action,
            "object_type": item.object_type,
            "object_id": item.object_id or _object_id(item.obj),
            "request_id": item.request_id, "source_address": item.source_address,
            "outcome": item.outcome, "changes": item.changes}


def _append_to_chain(session: Session, entries: list[dict],
                     head: AuditChainHead | None = None) -> None:
    """Append entries after the head (locked here unless the caller locked it)."""
    if head is None:
        head = session.execute(select(AuditChainHead).where(AuditChainHead.id == 1)
                               .with_for_update().execution_options(populate_existing=True)
                               ).scalar_one()
    for fields in entries:
        entry = AuditEntry(seq=head.last_seq + 1, prev_hash=head.last_hash, **fields)
        entry.hash = entry_hash(entry.chained_fields())
        head.last_seq, head.last_hash = entry.seq, entry.hash
        session.add(entry)
    session.flush()


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_entries(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop("audit_pending", None)


@event.listens_for(Session, "before_flush")
def _refuse_audit_rewrites(session: Session, _context, _instances) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry):
            raise PermissionError("audit entries are append-only")


# -- helpers ------------------------------------------------------------------------------

def _has_app_g() -> bool:
    from flask import has_app_context
    return has_app_context()


def _actor(actor: Any) -> dict:
    if actor is None:
        actor = _current_actor()
    if isinstance(actor, str):
        return {"id": None, "name": actor, "role": None}
    role = getattr(actor, "role", None)
    return {"id": actor.id, "name": actor.username,
            "role": role.value if isinstance(role, enum.Enum) else role}


def _current_actor() -> Any:
    if has_request_context():
        from flask_login import current_user
        if current_user and current_user.is_authenticated:
            return current_user._get_current_object()
        return "anonymous"
    if _has_app_g() and g.get("audit_actor"):
        return g.audit_actor
    return "system"


def _source_address() -> str | None:
    return request.remote_addr if has_request_context() else None


def _object_type(obj: Any) -> str:
    return getattr(obj, "__audit_name__", None) or type(obj).__name__.lower()


def _object_id(obj: Any) -> str | None:
    if obj is None:
        return None
    identity = inspect(obj).identity
    return None if identity is None else ",".join(str(part) for part in identity)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def recent(limit: int = 100, actions: Iterable[str] | None = None,
           actor_ids: Iterable[int] | None = None) -> list[AuditEntry]:
    """The newest entries, optionally of some actions and of some actors only."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if actions:
        query = query.where(AuditEntry.action.in_(list(actions)))
    if actor_ids is not None:
        query = query.where(AuditEntry.actor_id.in_(list(actor_ids)))
    return list(db.scalars(query))
