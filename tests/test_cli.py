"""The ``crisisline`` command, run as a separate process on a database of its own."""
from __future__ import annotations

import hashlib
import re

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from crisisline.seed import CENTRE
from tests.conftest import cli_connection

TOP_LEVEL_COMMANDS = ("init", "seed-demo", "users", "serve", "worker", "demo", "audit",
                      "simulate", "key-periods")
SUBCOMMANDS = [(name,) for name in TOP_LEVEL_COMMANDS] + [
    ("users", "create"), ("users", "disable"), ("users", "token"), ("audit", "verify"),
    ("audit", "rotate-key"), ("key-periods", "defaults")]
DEMO_USERNAMES = ("demo_volunteer", "demo_counselor", "demo_supervisor", "demo_liaison",
                  "demo_reporter", "demo_admin")
SEEDED_TABLES = ("organisations", "users", "students", "cases")
PASSWORD = "some-long-pass"


connect = cli_connection  # the command line's own database


def count_rows(url: str, *tables: str) -> dict[str, int]:
    with connect(url) as connection:
        return {table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in tables}


def names_entry(output: str, seq: int) -> bool:
    return re.search(rf"\bentry {seq}\b", output) is not None


def seeded(crisisline) -> None:
    crisisline("init")
    crisisline("seed-demo", "--password", PASSWORD)


# -- help ---------------------------------------------------------------------------------

def test_help_lists_every_command(crisisline):
    result = crisisline("--help")
    assert result.returncode == 0
    listed = set(re.findall(r"^  (\S+)", result.stdout.split("Commands:", 1)[1], re.M))
    assert listed >= set(TOP_LEVEL_COMMANDS), listed


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_answers_help(crisisline, command):
    result = crisisline(*command, "--help", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    assert " ".join(command) in result.stdout.splitlines()[0]


# -- init ---------------------------------------------------------------------------------

def test_init_twice_succeeds(crisisline, cli_database_url):
    first = crisisline("init")
    second = crisisline("init", check=False)
    assert second.returncode == 0, second.stderr
    assert "newest migration" in first.stdout and "newest migration" in second.stdout
    counts = count_rows(cli_database_url, "alembic_version", "audit_chain_head")
    assert counts == {"alembic_version": 1, "audit_chain_head": 1}


# -- users create -------------------------------------------------------------------------

def test_unknown_role_is_refused_naming_it_and_creates_no_user(crisisline, cli_database_url):
    crisisline("init")
    result = crisisline("users", "create", "newcomer", "--role", "nope",
                        "--password", PASSWORD, check=False)
    assert result.returncode != 0
    assert "role" in result.stderr and "'nope'" in result.stderr
    assert "created" not in result.stdout

    token = crisisline("users", "token", "newcomer", check=False)
    assert token.returncode != 0
    assert "no user named 'newcomer'" in token.stderr
    assert count_rows(cli_database_url, "users", "memberships") == \
        {"users": 0, "memberships": 0}


def test_unknown_organisation_is_refused_naming_it_and_creates_no_user(crisisline,
                                                                       cli_database_url):
    seeded(crisisline)
    before = count_rows(cli_database_url, "users", "memberships", "audit_entries")
    # one known organisation and one unknown: nothing at all may be created
    result = crisisline("users", "create", "newcomer", "--role", "counselor",
                        "--org", CENTRE, "--org", "NO-SUCH-ORG",
                        "--password", PASSWORD, check=False)
    assert result.returncode != 0
    assert "'NO-SUCH-ORG'" in result.stderr
    assert "created" not in result.stdout

    token = crisisline("users", "token", "newcomer", check=False)
    assert token.returncode != 0
    assert "no user named 'newcomer'" in token.stderr
    assert count_rows(cli_database_url, "users", "memberships", "audit_entries") == before


def test_create_user_with_role_and_demo_organisation(crisisline, cli_database_url):
    seeded(crisisline)
    result = crisisline("users", "create", "wang.counselor", "--role", "counselor",
                        "--org", CENTRE, "--password", "a-chosen-password",
                        "--display-name", "王老师")
    assert result.stdout.splitlines() == ["created wang.counselor (counselor)"]
    with connect(cli_database_url) as connection:
        row = connection.execute(text(
            "SELECT u.role, u.display_name, u.password_hash, o.code FROM users u "
            "JOIN memberships m ON m.user_id = u.id "
            "JOIN organisations o ON o.id = m.organisation_id "
            "WHERE u.username = 'wang.counselor'")).all()
    assert [(r.role, r.display_name, r.code) for r in row] == [("counselor", "王老师", CENTRE)]
    assert PasswordHasher().verify(row[0].password_hash, "a-chosen-password")


def test_create_user_without_password_prints_a_working_one(crisisline, cli_database_url):
    crisisline("init")
    result = crisisline("users", "create", "li.admin", "--role", "admin")
    lines = result.stdout.splitlines()
    assert lines[0] == "created li.admin (admin)"
    printed = [line.removeprefix("password: ") for line in lines
               if line.startswith("password: ")]
    assert len(printed) == 1 and len(printed[0]) >= 10, lines
    with connect(cli_database_url) as connection:
        stored = connection.execute(text(
            "SELECT password_hash FROM users WHERE username = 'li.admin'")).scalar_one()
    assert printed[0] not in stored
    assert PasswordHasher().verify(stored, printed[0])


# -- users token / disable ----------------------------------------------------------------

def test_token_is_printed_last_and_only_its_sha256_is_stored(crisisline, cli_database_url):
    crisisline("init")
    crisisline("users", "create", "api.client", "--role", "admin", "--password", PASSWORD)
    result = crisisline("users", "token", "api.client")
    token = result.stdout.rstrip("\n").splitlines()[-1]
    assert token.startswith("cl_") and len(token) > 32, result.stdout

    with connect(cli_database_url) as connection:
        rows = connection.execute(text(
            "SELECT t.*, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id"
        )).mappings().all()
    assert len(rows) == 1
    stored = rows[0]
    assert stored["username"] == "api.client"
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert stored["revoked_at"] is None
    assert all(token not in str(value) for value in stored.values()), dict(stored)


def test_disabled_user_cannot_be_disabled_again_nor_get_a_token(crisisline, cli_database_url):
    crisisline("init")
    crisisline("users", "create", "leaver", "--role", "admin", "--password", PASSWORD)
    crisisline("users", "token", "leaver")

    disabled = crisisline("users", "disable", "leaver", check=False)
    assert disabled.returncode == 0, disabled.stderr
    assert "disabled leaver" in disabled.stdout
    with connect(cli_database_url) as connection:
        user = connection.execute(text(
            "SELECT disabled_at FROM users WHERE username = 'leaver'")).one()
        revoked = connection.execute(text("SELECT revoked_at FROM api_tokens")).scalars().all()
    assert user.disabled_at is not None
    assert revoked and all(at is not None for at in revoked)  # the old token stops working

    again = crisisline("users", "disable", "leaver", check=False)
    assert again.returncode != 0
    assert "already disabled" in again.stderr

    token = crisisline("users", "token", "leaver", check=False)
    assert token.returncode != 0
    assert "disabled" in token.stderr
    assert not re.search(r"^cl_", token.stdout, re.M)
    assert count_rows(cli_database_url, "api_tokens") == {"api_tokens": 1}


# -- seed-demo ----------------------------------------------------------------------------

def test_seed_demo_twice_adds_nothing_new_and_names_every_demo_user(crisisline,
                                                                    cli_database_url):
    crisisline("init")
    first = crisisline("seed-demo", "--password", PASSWORD)
    after_first = count_rows(cli_database_url, *SEEDED_TABLES)
    second = crisisline("seed-demo", "--password", PASSWORD)
    after_second = count_rows(cli_database_url, *SEEDED_TABLES)

    assert all(after_first[table] > 0 for table in SEEDED_TABLES), after_first
    assert after_second == after_first
    for output in (first.stdout, second.stdout):
        listed = set(re.findall(r"^\s+(\S+)\s+\S+$", output, re.M))
        assert listed >= set(DEMO_USERNAMES), output
        assert PASSWORD in output


# -- audit verify -------------------------------------------------------------------------

def verified_chain_length(crisisline, cli_database_url) -> int:
    """Seed, check that ``audit verify`` passes, and return the number of entries."""
    seeded(crisisline)
    result = crisisline("audit", "verify", check=False)
    entries = count_rows(cli_database_url, "audit_entries")["audit_entries"]
    assert result.returncode == 0, result.stderr
    assert f"intact: {entries} entries" in result.stdout
    assert entries >= 5
    return entries


def test_audit_verify_passes_then_names_an_edited_entry(crisisline, cli_database_url):
    verified_chain_length(crisisline, cli_database_url)
    with connect(cli_database_url) as connection:
        changed = connection.execute(
            text("UPDATE audit_entries SET action = 'tampered' WHERE seq = 3")).rowcount
    assert changed == 1

    result = crisisline("audit", "verify", check=False)
    assert result.returncode != 0
    assert names_entry(result.stderr, 3), result.stderr


def test_audit_verify_fails_on_a_deleted_middle_entry(crisisline, cli_database_url):
    verified_chain_length(crisisline, cli_database_url)
    with connect(cli_database_url) as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq = 3"))

    result = crisisline("audit", "verify", check=False)
    assert result.returncode != 0
    assert names_entry(result.stderr, 3), result.stderr


def test_audit_verify_fails_on_swapped_entries(crisisline, cli_database_url):
    verified_chain_length(crisisline, cli_database_url)
    with connect(cli_database_url) as connection:
        for old, new in ((2, -2), (3, 2), (-2, 3)):
            connection.execute(text("UPDATE audit_entries SET seq = :new WHERE seq = :old"),
                               {"old": old, "new": new})

    result = crisisline("audit", "verify", check=False)
    assert result.returncode != 0
    assert names_entry(result.stderr, 2), result.stderr


def test_audit_verify_fails_on_truncation(crisisline, cli_database_url):
    entries = verified_chain_length(crisisline, cli_database_url)
    with connect(cli_database_url) as connection:
        removed = connection.execute(text("DELETE FROM audit_entries WHERE seq > :keep"),
                                     {"keep": entries - 2}).rowcount
    assert removed == 2

    result = crisisline("audit", "verify", check=False)
    assert result.returncode != 0
    assert names_entry(result.stderr, entries - 1), result.stderr


# -- the audit key ------------------------------------------------------------------------

NEW_KEY = "the-next-audit-key-" + "n" * 32


def test_audit_verify_with_another_key_fails_naming_the_key(crisisline, cli_database_url):
    verified_chain_length(crisisline, cli_database_url)
    result = crisisline("audit", "verify", check=False,
                        env={"CRISISLINE_AUDIT_KEY": "not-the-key-" + "x" * 32})
    assert result.returncode != 0
    assert "CRISISLINE_AUDIT_KEY" in result.stderr and "another key" in result.stderr


def test_rotate_key_re_keys_the_chain_and_replaces_the_kept_key(crisisline, cli_database_url):
    entries = verified_chain_length(crisisline, cli_database_url)
    kept = crisisline.instance_path / "audit_key"
    old_key = kept.read_text()
    result = crisisline("audit", "rotate-key", env={"CRISISLINE_NEW_AUDIT_KEY": NEW_KEY})
    assert re.search(rf"re-keyed: {entries} entries", result.stdout), result.stdout
    assert kept.read_text() == NEW_KEY
    assert not (crisisline.instance_path / "audit_key.new").exists()
    after = crisisline("audit", "verify")
    assert "intact" in after.stdout
    old = crisisline("audit", "verify", check=False, env={"CRISISLINE_AUDIT_KEY": old_key})
    assert old.returncode != 0 and "another key" in old.stderr
    with connect(cli_database_url) as connection:
        rekey = connection.execute(text("SELECT actor_name FROM audit_entries WHERE action = "
                                        "'audit.rekey'")).scalars().all()
    assert rekey == ["system:cli:tester"]


def test_rotate_key_refuses_a_broken_chain_and_keeps_the_key(crisisline, cli_database_url):
    verified_chain_length(crisisline, cli_database_url)
    kept = crisisline.instance_path / "audit_key"
    old_key = kept.read_text()
    with connect(cli_database_url) as connection:
        connection.execute(text("UPDATE audit_entries SET action = 'tampered' WHERE seq = 3"))
    result = crisisline("audit", "rotate-key", check=False,
                        env={"CRISISLINE_NEW_AUDIT_KEY": NEW_KEY})
    assert result.returncode != 0
    assert names_entry(result.stderr, 3) and "not re-keyed" in result.stderr
    assert kept.read_text() == old_key
    assert not (crisisline.instance_path / "audit_key.new").exists()


def test_rotate_key_needs_a_new_key_of_32_characters(crisisline, cli_database_url):
    seeded(crisisline)
    result = crisisline("audit", "rotate-key", check=False,
                        env={"CRISISLINE_NEW_AUDIT_KEY": "short"})
    assert result.returncode != 0 and "CRISISLINE_NEW_AUDIT_KEY" in result.stderr


def test_seed_demo_builds_the_district_by_importing_the_example_files(crisisline,
                                                                      cli_database_url):
    crisisline("init")
    crisisline("seed-demo", "--password", PASSWORD)
    with connect(cli_database_url) as connection:
        imports = connection.execute(text(
            "SELECT changes FROM audit_entries WHERE action = 'import.run' ORDER BY seq"
        )).scalars().all()
        students = connection.execute(text("SELECT COUNT(*) FROM students")).scalar_one()
        imported = connection.execute(text(
            "SELECT password_hash, must_change_password FROM users WHERE username = 'vol.liu'"
        )).one()
    files = [(changes if isinstance(changes, dict) else __import__("json").loads(changes))
             for changes in imports]
    assert [(entry["records"]["new"], entry["file"]["new"]) for entry in files] == [
        ("organisations", "organisations.csv"), ("students", "students-SCH-NO1.csv"),
        ("students", "students-COL-NORMAL.xlsx"), ("users", "users.csv")]
    assert students == sum(entry["rows"]["new"] for entry in files[1:3]) > 900
    assert PasswordHasher().verify(imported.password_hash, PASSWORD)  # the demo's password
    assert not imported.must_change_password
