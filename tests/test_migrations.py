"""The migrations: one line of history, a schema that matches the models, and the audit anchor.

The session's database was built by running the migrations (``conftest.app``), so what is
compared here is what ``crisisline init`` produces, not ``metadata.create_all``.
"""
from __future__ import annotations

import pprint
import re

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from crisisline import models
from crisisline.audit.models import GENESIS_HASH, AuditEntry
from tests.conftest import ROOT

MIGRATIONS = ROOT / "migrations"


def _script_directory() -> ScriptDirectory:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_there_is_exactly_one_alembic_head():
    heads = _script_directory().get_heads()
    assert len(heads) == 1, (
        f"the migrations have {len(heads)} heads {heads}; merge them "
        "(alembic merge heads) so upgrade 'head' is unambiguous")


def test_the_database_is_migrated_to_that_head(app):
    connection = app.extensions["crisisline.db_bind"]
    current = MigrationContext.configure(connection).get_current_heads()
    assert set(current) == set(_script_directory().get_heads())


def test_models_match_the_migrations(app):
    connection = app.extensions["crisisline.db_bind"]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diff = compare_metadata(context, models.metadata)
    assert diff == [], (
        "the models and the migrated database differ; write a migration "
        "(alembic revision --autogenerate) for:\n" + pprint.pformat(diff, width=100))


def test_the_audit_chain_starts_from_its_genesis_row(app):
    connection = app.extensions["crisisline.db_bind"]
    rows = connection.execute(
        text("SELECT id, last_seq, last_hash FROM audit_chain_head ORDER BY id")).all()
    assert [row.id for row in rows] == [1], f"expected the single anchor row id=1, got {rows}"
    head = rows[0]
    assert head.last_seq >= 0
    assert re.fullmatch(r"[0-9a-f]{64}", head.last_hash), head.last_hash
    # nothing appended yet (only tests marked ``commits`` could have): the head is the genesis
    entries = connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    if entries == 0:
        assert (head.last_seq, head.last_hash) == (0, GENESIS_HASH)


def test_a_database_holding_data_upgrades_from_the_first_revision(crisisline, cli_database_url):
    """The embedded default keeps its data across releases: rows survive every migration."""
    from sqlalchemy import create_engine, text

    from crisisline import create_app
    from crisisline.cli import upgrade_database

    first = create_app({"DATABASE_URL": cli_database_url, "SECRET_KEY": "k" * 40},
                       environ={"CRISISLINE_ENV": "testing"},
                       instance_path=crisisline.instance_path)
    upgrade_database(first, "0001_foundation")
    first.extensions["crisisline.engine"].dispose()  # its pooled connection, closed now
    engine = create_engine(cli_database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO organisations (id, code, name, kind, created_at) VALUES "
            "(1, 'C', 'centre', 'hotline_centre', '2026-01-01 00:00:00'),"
            "(2, 'H', 'hospital', 'hospital', '2026-01-01 00:00:00')"))
        connection.execute(text(
            "INSERT INTO cases (id, centre_id, source, risk_level, state, summary, version, "
            "created_at, updated_at) VALUES (1, 1, 'parent', 'high', 'reported', 's', 1, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO referrals (id, case_id, hospital_id, created_at) "
                                "VALUES (1, 1, 2, '2026-01-01 00:00:00')"))
    crisisline("init")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT state, danger_to_others FROM cases")).all() == \
            [("reported", False)]
        assert connection.execute(text("SELECT case_id FROM referrals")).scalar() == 1
    engine.dispose()


# -- the audit key (0015): an earlier release's bare SHA-256 chain ------------------------

def _earlier_release_chain(crisisline, cli_database_url, *, alter_seq: int | None = None):
    """A database at the revision before the key, holding a bare SHA-256 chain of three
    entries and an intact checkpoint, as the earlier release wrote them; returns the hashes
    and an engine."""
    import hashlib
    import json
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from crisisline import create_app
    from crisisline.audit.models import chained_fields
    from crisisline.cli import upgrade_database
    from crisisline.database import UTCDateTime

    first = create_app({"DATABASE_URL": cli_database_url, "SECRET_KEY": "k" * 40},
                       environ={"CRISISLINE_ENV": "testing"},
                       instance_path=crisisline.instance_path)
    upgrade_database(first, "0011_case_student_state")
    first.extensions["crisisline.engine"].dispose()
    engine = sa.create_engine(cli_database_url.replace("postgresql://",
                                                       "postgresql+psycopg://", 1))
    entries = sa.table("audit_entries", *(sa.column(name) for name in (
        "seq", "actor_id", "actor_name", "actor_role", "action", "object_type", "object_id",
        "request_id", "source_address", "outcome", "prev_hash", "hash")),
        sa.column("occurred_at", UTCDateTime()), sa.column("changes", sa.JSON()))
    checks = sa.table("audit_checks", sa.column("checked_at", UTCDateTime()),
                      *(sa.column(name) for name in ("ok", "entries", "last_hash")))
    previous, hashes = "0" * 64, []
    with engine.begin() as connection:
        for seq in (1, 2, 3):
            row = {"seq": seq, "occurred_at": datetime(2026, 11, seq, tzinfo=timezone.utc),
                   "actor_id": None, "actor_name": "t_old", "actor_role": None,
                   "action": "case.read", "object_type": "case", "object_id": str(seq),
                   "request_id": None, "source_address": "10.0.0.1", "outcome": "success",
                   "changes": {"via": "notes"}, "prev_hash": previous}
            canonical = json.dumps(chained_fields(row), sort_keys=True, ensure_ascii=False,
                                   separators=(",", ":"))
            row["hash"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            if seq == alter_seq:
                row["action"] = "case.list"  # edited after it was chained
            connection.execute(sa.insert(entries).values(**row))
            previous = row["hash"]
            hashes.append(previous)
        connection.execute(sa.insert(checks).values(
            checked_at=datetime(2026, 11, 2, 12, tzinfo=timezone.utc), ok=True, entries=2,
            last_hash=hashes[1]))
        connection.execute(text("UPDATE audit_chain_head SET last_seq = 3, last_hash = :h"),
                           {"h": previous})
    return hashes, engine


def test_an_intact_chain_of_an_earlier_release_is_verified_then_keyed(crisisline,
                                                                      cli_database_url):
    old_hashes, engine = _earlier_release_chain(crisisline, cli_database_url)
    crisisline("init")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT seq, hash, action, actor_name FROM "
                                       "audit_entries ORDER BY seq")).all()
    engine.dispose()
    assert [row.seq for row in rows] == [1, 2, 3, 4]
    assert not {row.hash for row in rows} & set(old_hashes)  # every link is keyed now
    assert (rows[-1].action, rows[-1].actor_name) == ("audit.rekey", "system:migration")
    result = crisisline("audit", "verify")
    assert "intact: 4 entries" in result.stdout


def test_a_broken_chain_of_an_earlier_release_stops_the_upgrade_naming_the_entry(
        crisisline, cli_database_url):
    old_hashes, engine = _earlier_release_chain(crisisline, cli_database_url, alter_seq=2)
    result = crisisline("init", check=False)
    assert result.returncode != 0
    assert "entry 2 was altered" in result.stderr and "Traceback" not in result.stderr
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == "0011_case_student_state"
        assert [row.hash for row in connection.execute(text(
            "SELECT hash FROM audit_entries ORDER BY seq"))] == old_hashes
    engine.dispose()
