"""The database: engine, the request-scoped session, the declarative base and ``on_commit``.

Transactions are explicit. Service functions add and flush but never commit; the caller
that owns the unit of work (a view, a CLI command, a Celery task) commits once. Work that
must only happen if the data is really stored (Socket.IO emits, Celery sends, Twilio REST
calls) is registered with :func:`on_commit` and runs after the commit, or not at all.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import enum
import logging

from sqlalchemy import DateTime, Enum, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from flask import current_app
from flask.globals import app_ctx
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def enum_column(kind: type[enum.Enum], name: str) -> Enum:
    """A portable enum column that stores the members' values as strings."""
    return Enum(kind, name=name, values_callable=lambda k: [m.value for m in k],
                native_enum=False, validate_strings=True, length=40)


def _new_session() -> Session:
    # bound per app, so tests can hand in a connection that is rolled back afterwards
    return Session(bind=current_app.extensions["crisisline.db_bind"], expire_on_commit=False,
                   join_transaction_mode="create_savepoint")


def _app_context_id() -> int:
    # one session per application context, so a task run in-process (eagerly, or after a
    # commit) works in a session of its own, as it would in a worker
    return id(app_ctx._get_current_object())


db: scoped_session[Session] = scoped_session(_new_session, scopefunc=_app_context_id)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _serialise_sqlite_writers(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _serialise_sqlite_writers(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, own transactions, and take the write lock up front.

    pysqlite's own transaction handling breaks SAVEPOINT; and a transaction that reads and
    then writes can fail with "database is locked" when another writer got there first.
    ``BEGIN IMMEDIATE`` makes writers queue (up to the 30 s busy timeout) instead. This is
    the embedded single-machine default; production runs on PostgreSQL.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def transaction_info(key: str) -> list:
    """A list that lives as long as the current transaction: dropped at commit or rollback.

    The transaction is begun if need be, so a rollback before any SQL was sent still
    counts (without one, SQLAlchemy's rollback is a no-op that fires no event).
    """
    session = db()
    if not session.in_transaction():
        session.begin()
    session.info.setdefault("transaction_keys", set()).add(key)
    return session.info.setdefault(key, [])


def _forget_transaction_info(session: Session) -> None:
    for key in session.info.pop("transaction_keys", ()):
        session.info.pop(key, None)


def on_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current transaction commits; drop it on rollback."""
    transaction_info("on_commit").append(callback)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    # each on its own: one failing send (a broker down) must not swallow the others, and
    # the data is committed already; whatever depends on a lost send is swept up later
    if session.in_nested_transaction():
        return  # a savepoint released: nothing is committed yet
    callbacks = session.info.pop("on_commit", [])
    _forget_transaction_info(session)
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001  (logged, and the commit stands)
            logging.getLogger("crisisline").exception("after-commit step failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_commit(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        _forget_transaction_info(session)
