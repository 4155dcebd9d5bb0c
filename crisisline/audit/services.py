"""Recording and verifying the audit trail.

``record()`` queues an entry on the current transaction. Just before that transaction
commits, the entries are written with it, so an entry exists exactly when the change it
describes was committed. Chaining gives each entry the next ``seq`` and an HMAC-SHA256 over
its fields and the previous hash, keyed with ``CRISISLINE_AUDIT_KEY`` (kept outside the
database, so whoever can write the database cannot recompute the chain), under the chain
head row's lock, so the chain stays linear however many processes write at once. The head
and the checkpoints carry an HMAC too. Where chaining happens depends on the database:

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
import hmac
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable

from flask import current_app, g, has_request_context, request
from sqlalchemy import bindparam, delete, event, insert, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from crisisline.audit.models import (CHAINED, GENESIS_HASH, AuditChainHead, AuditCheck,
                                     AuditEntry, AuditQueued, chained_fields)
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
    """This request's id: a well-formed one the client (or its proxy) sent, or a new one.

    Kept only in the shape of a proxy's or load balancer's id (6-64 of A-Z a-z 0-9 . _ -,
    starting with a letter or digit: a UUID, a hex or base64url id), so nobody writes text
    of their own (markup, control or bidi characters) into the audit trail as an id."""
    if not has_request_context():
        return g.get("request_id") if _has_app_g() else None
    if "request_id" not in g:
        supplied = request.headers.get("X-Request-ID", "")
        well_formed = 6 <= len(supplied) <= 64 and supplied.isascii() and supplied[0]\
            .isalnum() and all(c.isalnum() or c in "._-" for c in supplied)
        g.request_id = supplied if well_formed else uuid.uuid4().hex
    return g.request_id


# -- the key ------------------------------------------------------------------------------

class AuditKeyMismatch(RuntimeError):
    """This process's CRISISLINE_AUDIT_KEY is not the key the chain is kept with."""


class ChainBroken(Exception):
    """The chain cannot be re-keyed: it does not verify with the old key."""

    def __init__(self, seq: int | None, problem: str):
        super().__init__(problem)
        self.seq, self.problem = seq, problem


def audit_key() -> str:
    return current_app.config["AUDIT_KEY"]


def _mac(key: str, purpose: str, fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # the purpose keeps an entry's, the head's and a checkpoint's MACs apart: none can be
    # copied into the place of another
    return hmac.new(key.encode("utf-8"), f"crisisline-audit/{purpose}\n{canonical}"
                    .encode("utf-8"), hashlib.sha256).hexdigest()


def entry_hash(fields: dict, key: str | None = None) -> str:
    """The HMAC of an entry's chained fields (see ``AuditEntry.chained_fields``)."""
    return _mac(key or audit_key(), "entry", fields)


def key_id(key: str | None = None) -> str:
    """A name for the key that tells nothing about it, kept on the head."""
    return _mac(key or audit_key(), "key-id", {})[:16]


def head_mac(head, key: str | None = None) -> str:
    return _mac(key or audit_key(), "head", {
        "last_seq": head.last_seq, "last_hash": head.last_hash,
        "last_check_id": head.last_check_id, "key_id": head.key_id})


def check_mac(check, key: str | None = None) -> str:
    return _mac(key or audit_key(), "check", {
        "id": check.id, "previous_id": check.previous_id, "ok": check.ok,
        "checked_at": check.checked_at.astimezone(timezone.utc)
                                      .isoformat(timespec="microseconds"),
        "entries": check.entries, "last_hash": check.last_hash,
        "first_bad_seq": check.first_bad_seq, "problem": check.problem})


# -- verifying ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session | None = None, batch: int = 5000) -> ChainReport:
    """Walk the whole chain with the audit key; report the first entry that was edited,
    removed or moved, a head that was rewritten, and a checkpoint that was forged, altered
    or deleted or that the chain no longer agrees with (shorter than it, or another entry
    at its place)."""
    session = session or db()
    key = audit_key()
    head = session.get(AuditChainHead, 1, populate_existing=True)
    checks = list(session.scalars(select(AuditCheck).order_by(AuditCheck.id)
                                  .execution_options(populate_existing=True)))
    problem = _head_key_problem(head, key) or _checks_problem(checks, head, key)
    if problem:
        return ChainReport(False, 0, None, problem)
    pins = {}
    for check in checks:
        if check.ok and check.entries:
            pins.setdefault(check.entries, check)
    report = _verify(session, GENESIS_HASH, 0, batch, head=head, key=key, pins=pins)
    if not report.ok:
        return report
    for check in reversed(checks):
        if check.ok and check.entries > report.entries:
            return ChainReport(False, report.entries, report.entries + 1,
                               f"the chain ends at entry {report.entries} but checkpoint "
                               f"{check.id} of {_when(check)} saw {check.entries} entries: "
                               "entries were removed from the end")
    return report


def verify_since_last_check(session: Session | None = None) -> tuple[AuditCheck | None,
                                                                      ChainReport]:
    """The last full check, and the chain verified from it (only the newer entries).

    Without an intact, genuine check to start from, the whole chain is walked."""
    session = session or db()
    key = audit_key()
    head = session.get(AuditChainHead, 1, populate_existing=True)
    last = session.scalar(select(AuditCheck).order_by(AuditCheck.id.desc()).limit(1)
                          .execution_options(populate_existing=True))
    genuine = (last is not None and head is not None and head.last_check_id == last.id
               and hmac.compare_digest(last.mac, check_mac(last, key)))
    if not (genuine and last.ok) or _head_key_problem(head, key):
        return last, verify_chain(session)
    if last.entries and session.scalar(select(AuditEntry.hash).where(
            AuditEntry.seq == last.entries)) != last.last_hash:
        return last, ChainReport(False, 0, last.entries,
                                 f"entry {last.entries} is not the entry checkpoint {last.id} "
                                 f"of {_when(last)} saw, or it was removed")
    return last, _verify(session, last.last_hash, last.entries, head=head, key=key)


def record_check(report: ChainReport, session: Session | None = None) -> AuditCheck:
    """Keep a full check's result (the caller commits); an intact one is a checkpoint.

    It is keyed and chained to the previous check, and the head names it (under the head's
    lock, so checks made at once are chained in turn)."""
    session = session or db()
    head = _locked_head(session)
    last_hash = session.scalar(select(AuditEntry.hash).where(
        AuditEntry.seq == report.entries)) if report.ok and report.entries else GENESIS_HASH
    check = AuditCheck(ok=report.ok, entries=report.entries, first_bad_seq=report.first_bad_seq,
                       problem=report.problem, last_hash=last_hash if report.ok else None,
                       previous_id=head.last_check_id, checked_at=utcnow(), mac="")
    session.add(check)
    session.flush()  # its id is part of what the MAC covers
    check.mac = check_mac(check)
    head.last_check_id = check.id
    head.mac = head_mac(head)
    session.flush()
    return check


def _when(check: AuditCheck) -> str:
    return check.checked_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _head_key_problem(head: AuditChainHead | None, key: str) -> str | None:
    if head is None:
        return "the chain head is missing"
    if head.key_id != key_id(key):
        return ("the audit chain is kept with another key: CRISISLINE_AUDIT_KEY is not the "
                "key it was written with (or the head was altered)")
    return None


def _checks_problem(checks: list[AuditCheck], head: AuditChainHead, key: str) -> str | None:
    previous = None
    for check in checks:
        if not hmac.compare_digest(check.mac or "", check_mac(check, key)):
            return f"checkpoint {check.id} was forged or altered"
        if check.previous_id != previous:
            return (f"a checkpoint between checkpoint {previous} and checkpoint {check.id} "
                    "was deleted" if previous is not None else
                    f"checkpoint {check.previous_id} before checkpoint {check.id} was deleted")
        previous = check.id
    if head.last_check_id != previous:
        if previous is None or (head.last_check_id or 0) > previous:
            return f"checkpoint {head.last_check_id} was deleted"
        return (f"the chain head does not name checkpoint {previous}: it was replaced by an "
                "earlier copy")
    return None


def _verify(session: Session, prev_hash: str, after_seq: int, batch: int = 5000, *,
            head: AuditChainHead, key: str, pins: dict | None = None) -> ChainReport:
    rows = session.execute(select(AuditEntry).where(AuditEntry.seq > after_seq)
                           .order_by(AuditEntry.seq).execution_options(yield_per=batch)
                           ).scalars()
    try:
        return _walk(rows, prev_hash, after_seq, head=head, key=key, pins=pins or {})
    finally:
        rows.close()  # a server-side cursor on PostgreSQL: stopping early must close it


def _walk(rows: Iterable[AuditEntry], prev_hash: str, count: int, *, head: AuditChainHead,
          key: str, pins: dict) -> ChainReport:
    expected_seq = count + 1
    for entry in rows:
        if entry.seq != expected_seq:
            missing = expected_seq if entry.seq > expected_seq else entry.seq
            return ChainReport(False, count, missing,
                               f"entry {missing} is missing or out of order")
        if entry.prev_hash != prev_hash:
            return ChainReport(False, count, entry.seq,
                               f"entry {entry.seq} does not follow entry {entry.seq - 1}")
        if not hmac.compare_digest(entry_hash(entry.chained_fields(), key), entry.hash):
            return ChainReport(False, count, entry.seq, f"entry {entry.seq} was altered")
        pin = pins.get(entry.seq)
        if pin is not None and pin.last_hash != entry.hash:
            return ChainReport(False, count, entry.seq,
                               f"entry {entry.seq} is not the entry checkpoint {pin.id} of "
                               f"{_when(pin)} saw")
        prev_hash, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    if not hmac.compare_digest(head.mac or "", head_mac(head, key)):
        return ChainReport(False, count, count + 1,
                           f"the chain head (entry {head.last_seq}) was altered")
    if head.last_seq != count or head.last_hash != prev_hash:
        return ChainReport(False, count, count + 1,
                           f"the chain ends at entry {count} but the head records entry "
                           f"{head.last_seq}: entries were removed from the end")
    return ChainReport(True, count)


# -- re-keying ----------------------------------------------------------------------------

def rekey_chain(connection: Connection, old_hash: Callable[[dict], str], new_key: str, *,
                actor: str, reason: str, batch: int = 1000) -> int:
    """Verify the whole chain with ``old_hash`` and chain it again with ``new_key``.

    Every entry gets a new ``prev_hash`` and ``hash``, each intact checkpoint the new hash
    of the entry it saw and a new MAC, the head the new key's id and MAC; an ``audit.rekey``
    entry, chained with the new key, says when, by whom and why. Raises :class:`ChainBroken`
    (the caller rolls back) when the chain, the head or a checkpoint does not agree with
    ``old_hash``: a broken chain is never re-keyed, which would make it verify. Works on a
    connection (the migration has no ORM session); the head is locked throughout."""
    entries_t, head_t, checks_t = (AuditEntry.__table__, AuditChainHead.__table__,
                                   AuditCheck.__table__)
    head = connection.execute(select(head_t.c.last_seq, head_t.c.last_hash, head_t.c.key_id)
                              .where(head_t.c.id == 1).with_for_update()).one()
    checks = connection.execute(select(checks_t).order_by(checks_t.c.id)).mappings().all()
    pinned = {check["entries"] for check in checks if check["ok"] and check["entries"]}
    old_at, new_at = {0: GENESIS_HASH}, {0: GENESIS_HASH}
    old_prev = new_prev = GENESIS_HASH
    count = 0
    rewrite = (update(entries_t).where(entries_t.c.seq == bindparam("at_seq"))
               .values(prev_hash=bindparam("new_prev"), hash=bindparam("new_hash")))
    while True:
        rows = connection.execute(select(*(entries_t.c[name] for name in (*CHAINED, "hash")))
                                  .where(entries_t.c.seq > count).order_by(entries_t.c.seq)
                                  .limit(batch)).mappings().all()
        if not rows:
            break
        changed = []
        for row in rows:
            seq = count + 1
            if row["seq"] != seq:
                raise ChainBroken(seq, f"entry {seq} is missing or out of order")
            if row["prev_hash"] != old_prev:
                raise ChainBroken(seq, f"entry {seq} does not follow entry {seq - 1}")
            if not hmac.compare_digest(old_hash(chained_fields(row)), row["hash"]):
                raise ChainBroken(seq, f"entry {seq} was altered")
            new_hash = _mac(new_key, "entry", chained_fields({**row, "prev_hash": new_prev}))
            changed.append({"at_seq": seq, "new_prev": new_prev, "new_hash": new_hash})
            if seq in pinned:
                old_at[seq], new_at[seq] = row["hash"], new_hash
            old_prev, new_prev, count = row["hash"], new_hash, seq
        connection.execute(rewrite, changed)
    if head.last_seq != count or head.last_hash != old_prev:
        raise ChainBroken(count + 1, f"the chain ends at entry {count} but the head records "
                                     f"entry {head.last_seq}: entries were removed from the end")

    previous = None
    for check in checks:
        values = dict(check, previous_id=previous)
        if check["ok"]:
            if old_at.get(check["entries"]) != check["last_hash"]:
                raise ChainBroken(None, f"checkpoint {check['id']} does not agree with the "
                                        "chain: it is shorter, or another entry is in its place")
            values["last_hash"] = new_at[check["entries"]]
        values["mac"] = check_mac(_Row(values), new_key)
        connection.execute(update(checks_t).where(checks_t.c.id == check["id"])
                           .values(previous_id=previous, last_hash=values["last_hash"],
                                   mac=values["mac"]))
        previous = check["id"]

    new_id = key_id(new_key)
    entry = {"seq": count + 1, "prev_hash": new_prev, "occurred_at": utcnow(),
             "actor_id": None, "actor_name": actor, "actor_role": None, "action": "audit.rekey",
             "object_type": None, "object_id": None, "request_id": None,
             "source_address": None, "outcome": SUCCESS,
             "changes": {"reason": {"new": reason}, "entries": {"new": count},
                         "key_id": {"old": head.key_id, "new": new_id}}}
    entry["hash"] = _mac(new_key, "entry", chained_fields(entry))
    connection.execute(insert(entries_t).values(**entry))
    new_head = _Row({"last_seq": entry["seq"], "last_hash": entry["hash"],
                     "last_check_id": previous, "key_id": new_id})
    connection.execute(update(head_t).where(head_t.c.id == 1).values(
        **vars(new_head), mac=head_mac(new_head, new_key)))
    return count


class _Row:
    """Attribute access to a plain mapping, for the MAC functions."""

    def __init__(self, values: dict):
        self.__dict__.update(values)


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
    head = session.execute(select(AuditChainHead).where(AuditChainHead.id == 1)
                           .with_for_update(skip_locked=True)
                           .execution_options(populate_existing=True)).scalar_one_or_none()
    if head is not None and head.key_id != key_id():
        # a process still holding the previous key (during a rotation): its entries wait in
        # the queue for a process with the chain's key, instead of breaking the chain
        logging.getLogger("crisisline").error(
            "CRISISLINE_AUDIT_KEY is not the key the audit chain is kept with: audit entries "
            "stay queued until a process with the right key chains them")
        return None
    return head


def _locked_head(session: Session) -> AuditChainHead:
    return session.execute(select(AuditChainHead).where(AuditChainHead.id == 1)
                           .with_for_update().execution_options(populate_existing=True)
                           ).scalar_one()


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
    head = head or _locked_head(session)
    key = audit_key()
    if head.key_id != key_id(key):
        raise AuditKeyMismatch("CRISISLINE_AUDIT_KEY is not the key the audit chain is kept "
                               "with; nothing was saved (see `crisisline audit rotate-key`)")
    for fields in entries:
        entry = AuditEntry(seq=head.last_seq + 1, prev_hash=head.last_hash, **fields)
        entry.hash = entry_hash(entry.chained_fields(), key)
        head.last_seq, head.last_hash = entry.seq, entry.hash
        session.add(entry)
    head.mac = head_mac(head, key)
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


# -- reading the trail ----------------------------------------------------------------------

OUTCOMES = (SUCCESS, DENIED, FAILURE)


@dataclass(frozen=True)
class TrailFilter:
    """What the viewer and its export narrow the trail to (each optional)."""

    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    person_id: int | None = None  # who acted, or whose account was acted on
    person_name: str | None = None
    action: str | None = None
    record_type: str | None = None
    record_id: str | None = None
    outcome: str | None = None

    def apply(self, query):
        if self.since is not None:
            query = query.where(AuditEntry.occurred_at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.occurred_at < self.until)
        if self.person_name is not None:
            # a failed sign-in names the account it was against, not an actor
            query = query.where((AuditEntry.actor_id == self.person_id)
                                | ((AuditEntry.object_type == "user")
                                   & (AuditEntry.object_id == str(self.person_id))))
        if self.action:
            query = query.where(AuditEntry.action == self.action)
        if self.record_type:
            query = query.where(AuditEntry.object_type == self.record_type)
        if self.record_id:
            query = query.where(AuditEntry.object_id == self.record_id)
        if self.outcome:
            query = query.where(AuditEntry.outcome == self.outcome)
        return query

    def as_dict(self) -> dict:
        """The filter as plain values, for the export's own audit entry."""
        values = {"since": self.since, "until": self.until, "person": self.person_name,
                  "action": self.action, "record_type": self.record_type,
                  "record_id": self.record_id, "outcome": self.outcome}
        return {name: _plain(value) for name, value in values.items() if value is not None}


def trail_page(visible_entries, trail: TrailFilter, *, before: int | None = None,
               limit: int = 50) -> tuple[list[AuditEntry], int | None]:
    """One page of the entries ``visible_entries`` (a select, the reader's scope) holds,
    newest first, older than ``before`` (keyset on ``seq``); and the ``before`` of the next
    page, or None on the last."""
    query = trail.apply(visible_entries)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    rows = list(db.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit + 1)))
    return rows[:limit], rows[limit - 1].seq if len(rows) > limit else None


def trail_all(visible_entries, trail: TrailFilter) -> list[AuditEntry]:
    """Every entry the filter selects in the reader's scope, newest first (the export)."""
    return list(db.scalars(trail.apply(visible_entries).order_by(AuditEntry.seq.desc())))
