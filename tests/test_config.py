"""Settings from the environment: a bad value stops start-up with the variable's name."""
from __future__ import annotations

import stat

import pytest
from sqlalchemy.engine import make_url

from crisisline.config import DEMO_HOTLINE, ConfigError, load_settings

GOOD_SECRET = "s" * 32
GOOD_AUDIT_KEY = "a" * 32


@pytest.mark.parametrize(("variable", "value"), [
    ("CRISISLINE_DATABASE_URL", "garbage"),
    ("CRISISLINE_DATABASE_URL", "mysql://user:pass@db.example.cn/crisisline"),
    ("CRISISLINE_REDIS_URL", "http://x"),
    ("CRISISLINE_PUBLIC_URL", "ftp://x"),
    ("CRISISLINE_PUBLIC_URL", "not a url"),
    ("TWILIO_ACCOUNT_SID", "AC123"),
    ("TWILIO_AUTH_TOKEN", "not-32-hexadecimal-digits"),
    ("CRISISLINE_BACKUP_LINE", "12356"),
    ("CRISISLINE_ENV", "staging"),
    ("CRISISLINE_BREAK_GLASS_MINUTES", "thirty"),
    ("CRISISLINE_BREAK_GLASS_MINUTES", "0"),
], ids=lambda v: v.lower().replace(" ", "_"))
def test_malformed_variable_is_refused_naming_the_variable(tmp_path, variable, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value}, instance_path=tmp_path)
    assert variable in str(raised.value)


def test_well_formed_values_of_every_variable_are_accepted(tmp_path):
    settings = load_settings({
        "CRISISLINE_ENV": "production",
        "CRISISLINE_SECRET_KEY": GOOD_SECRET,
        "CRISISLINE_AUDIT_KEY": GOOD_AUDIT_KEY,
        "CRISISLINE_DATABASE_URL": "sqlite:///" + str(tmp_path / "db.sqlite"),
        "CRISISLINE_REDIS_URL": "redis://cache.example.cn:6379/2",
        "CRISISLINE_PUBLIC_URL": "https://hotline.example.cn/",
        "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
        "TWILIO_AUTH_TOKEN": "fedcba9876543210" * 2,
        "CRISISLINE_BACKUP_LINE": "+861012356",
        "CRISISLINE_BREAK_GLASS_MINUTES": "45",
    }, instance_path=tmp_path)
    assert settings.env == "production"
    assert settings.secret_key == GOOD_SECRET
    assert settings.audit_key == GOOD_AUDIT_KEY
    assert settings.redis_url == "redis://cache.example.cn:6379/2"
    assert settings.public_url == "https://hotline.example.cn"
    assert settings.twilio_account_sid == "AC" + "0123456789abcdef" * 2
    assert settings.twilio_auth_token == "fedcba9876543210" * 2
    assert settings.backup_line == "+861012356"
    assert settings.break_glass_minutes == 45


def test_production_without_secret_key_is_refused_naming_it(tmp_path):
    instance = tmp_path / "instance"
    with pytest.raises(ConfigError) as raised:
        load_settings({"CRISISLINE_ENV": "production"}, instance_path=instance)
    assert "CRISISLINE_SECRET_KEY" in str(raised.value)
    assert not (instance / "secret_key").exists()  # no silently generated key either


def test_production_without_audit_key_is_refused_naming_it(tmp_path):
    instance = tmp_path / "instance"
    with pytest.raises(ConfigError) as raised:
        load_settings({"CRISISLINE_ENV": "production", "CRISISLINE_SECRET_KEY": GOOD_SECRET},
                      instance_path=instance)
    assert "CRISISLINE_AUDIT_KEY" in str(raised.value)
    assert not (instance / "audit_key").exists()  # never a key the database could sit beside


def test_short_audit_key_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="CRISISLINE_AUDIT_KEY"):
        load_settings({"CRISISLINE_AUDIT_KEY": "a" * 31}, instance_path=tmp_path)
    assert load_settings({"CRISISLINE_AUDIT_KEY": GOOD_AUDIT_KEY},
                         instance_path=tmp_path).audit_key == GOOD_AUDIT_KEY


def test_embedded_audit_key_is_generated_once_kept_private_and_apart_from_the_secret_key(
        tmp_path):
    first = load_settings({}, instance_path=tmp_path)
    key_file = tmp_path / "audit_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first.audit_key and len(first.audit_key) >= 32
    assert load_settings({}, instance_path=tmp_path).audit_key == first.audit_key
    assert first.audit_key != first.secret_key


def test_a_damaged_kept_audit_key_is_refused_not_replaced(tmp_path):
    (tmp_path / "audit_key").write_text("short")
    with pytest.raises(ConfigError, match="CRISISLINE_AUDIT_KEY"):
        load_settings({}, instance_path=tmp_path)
    assert (tmp_path / "audit_key").read_text() == "short"


def test_short_secret_key_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_settings({"CRISISLINE_SECRET_KEY": "s" * 31}, instance_path=tmp_path)
    assert "CRISISLINE_SECRET_KEY" in str(raised.value)
    # the boundary: 32 characters is long enough
    assert load_settings({"CRISISLINE_SECRET_KEY": GOOD_SECRET},
                         instance_path=tmp_path).secret_key == GOOD_SECRET


def test_empty_environment_gives_embedded_sqlite_inside_instance_folder_and_no_redis(tmp_path):
    instance = tmp_path / "instance"
    settings = load_settings({}, instance_path=instance)
    url = make_url(settings.database_url)
    assert url.get_backend_name() == "sqlite"
    assert settings.uses_sqlite
    assert url.database == str(instance / "crisisline.sqlite")
    assert settings.redis_url is None
    assert settings.env == "development"


def test_embedded_secret_key_is_generated_once_kept_private_and_reused(tmp_path):
    instance = tmp_path / "instance"  # does not exist yet: the first run creates it
    first = load_settings({}, instance_path=instance)
    key_file = instance / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first.secret_key
    assert len(first.secret_key) >= 32

    second = load_settings({}, instance_path=instance)
    assert second.secret_key == first.secret_key

    elsewhere = load_settings({}, instance_path=tmp_path / "other-instance")
    assert elsewhere.secret_key != first.secret_key  # generated, not a constant


def test_postgresql_url_is_given_the_psycopg_driver(tmp_path):
    settings = load_settings(
        {"CRISISLINE_DATABASE_URL": "postgresql://crisis:p%40ss@db.example.cn:5433/hotline"},
        instance_path=tmp_path)
    url = make_url(settings.database_url)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == \
        ("crisis", "p@ss", "db.example.cn", 5433, "hotline")
    assert not settings.uses_sqlite


def test_process_with_malformed_redis_url_refuses_to_start_naming_it(crisisline):
    result = crisisline("init", env={"CRISISLINE_REDIS_URL": "http://nope"}, check=False)
    assert result.returncode != 0
    assert "CRISISLINE_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert "newest migration" not in result.stdout


def test_a_damaged_kept_secret_key_is_refused_naming_the_file(tmp_path):
    (tmp_path / "secret_key").write_text("short")
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings({}, instance_path=tmp_path)


def test_keeping_the_secret_key_leaves_no_temporary_files(tmp_path):
    load_settings({}, instance_path=tmp_path)
    load_settings({}, instance_path=tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["audit_key", "secret_key",
                                                                "twilio_demo_token"]


def test_the_demo_signs_and_records_twilio_traffic_with_credentials_it_keeps(tmp_path):
    first = load_settings({}, instance_path=tmp_path)
    again = load_settings({}, instance_path=tmp_path)
    assert first.twilio_transport == "record" and first.twilio_from_number == DEMO_HOTLINE
    assert first.twilio_auth_token == again.twilio_auth_token  # simulate signs as serve checks
    assert len(first.twilio_auth_token) == 32


@pytest.mark.parametrize("environ", [
    {"CRISISLINE_ENV": "testing"},
    {"CRISISLINE_ENV": "production", "CRISISLINE_SECRET_KEY": "k" * 40,
     "CRISISLINE_AUDIT_KEY": "a" * 40},
    {"CRISISLINE_TWILIO_TRANSPORT": "live"},
])
def test_no_demo_twilio_credentials_outside_the_recording_development_setup(tmp_path, environ):
    settings = load_settings(environ, instance_path=tmp_path)
    assert settings.twilio_auth_token is None and settings.twilio_account_sid is None


def test_a_postgresql_driver_we_do_not_ship_is_refused_at_start(tmp_path):
    with pytest.raises(ConfigError, match="CRISISLINE_DATABASE_URL"):
        load_settings({"CRISISLINE_DATABASE_URL": "postgresql+psycopg2://db/x"},
                      instance_path=tmp_path)


@pytest.mark.parametrize("name, value", [
    ("CRISISLINE_REDIS_URL", "redis://localhost:abc/0"),
    ("CRISISLINE_BREAK_GLASS_MINUTES", "99999999999999"),
])
def test_values_that_would_fail_later_are_refused_at_start(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, instance_path=tmp_path)
