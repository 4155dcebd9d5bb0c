"""`crisisline simulate`: signed demo traffic that a running server accepts as Twilio's."""
from __future__ import annotations

import re
import socket
import time

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from hotline.models import Channel, Contact, ContactStatus, Priority
from hotline.simulator import Simulator
from tests.test_worker import read_until
from tests.world import TEST_HOTLINE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_server(crisisline):
    """``crisisline init`` + ``seed-demo`` + ``serve`` on a free port, as the demo runs."""
    crisisline("init")
    crisisline("seed-demo", "--password", "demo-password-1")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = crisisline.start("serve", "--port", str(port), env={"CRISISLINE_PUBLIC_URL": url})
    assert "serving" in read_until(server, "serving")
    for _ in range(50):  # listening a moment after it says so
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=20)
    server.stdout.close()


def contacts_in(database_url: str) -> list[Contact]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine, expire_on_commit=False) as session:
        found = session.scalars(select(Contact).order_by(Contact.id)).all()
    engine.dispose()
    return found


def test_simulated_calls_and_texts_fill_the_demo_queue(crisisline, cli_database_url,
                                                       demo_server):
    seeded = {c.id for c in contacts_in(cli_database_url)}
    result = crisisline("simulate", "--calls", "4", "--texts", "3", "--rate", "50",
                        "--high-risk", "0.5", "--abandon", "0", "--seed", "7",
                        env={"CRISISLINE_PUBLIC_URL": demo_server})
    pressed_one = int(re.search(r"sent 4 calls \((\d+) pressed 1", result.stdout).group(1))
    assert "3 texts" in result.stdout and "failed" not in result.stdout

    simulated = [c for c in contacts_in(cli_database_url) if c.id not in seeded]
    calls = [c for c in simulated if c.channel == Channel.VOICE]
    texts = [c for c in simulated if c.channel == Channel.SMS]
    assert len(calls) == 4 and len(texts) == 3
    assert all(c.status == ContactStatus.QUEUED for c in calls)  # nobody is on duty yet
    assert sum(c.priority == Priority.IMMINENT for c in calls) == pressed_one


def test_traffic_signed_with_another_token_is_refused_and_changes_nothing(
        crisisline, cli_database_url, demo_server, tmp_path):
    before = len(contacts_in(cli_database_url))
    result = crisisline("simulate", "--calls", "1", "--texts", "1", "--rate", "50",
                        check=False, env={"CRISISLINE_PUBLIC_URL": demo_server,
                                          "CRISISLINE_INSTANCE_PATH": str(tmp_path / "other")})
    assert result.returncode == 1 and "HTTP 403" in result.stdout
    assert len(contacts_in(cli_database_url)) == before


def test_simulate_says_plainly_when_no_server_is_listening(crisisline):
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = crisisline("simulate", "--calls", "1", "--texts", "0", check=False,
                        env={"CRISISLINE_PUBLIC_URL": nowhere})
    assert result.returncode != 0
    assert f"cannot reach {nowhere}" in result.stderr


def test_a_simulated_caller_who_hangs_up_while_waiting_lands_on_the_callback_list(
        app, live_server, ctx, world, monkeypatch):
    token = "e" * 32
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", token)
    monkeypatch.setitem(app.config, "PUBLIC_URL", live_server)
    # one request at a time: the live server shares the test's one database connection
    simulator = Simulator(live_server, token, TEST_HOTLINE, hang_up_after=(0.05, 0.1), seed=3)
    report = simulator.run(calls=2, texts=0, rate=1, high_risk_share=0, abandon_share=1)
    assert report.sent["abandoned"] == 2 and not report.failures
    with ctx() as db:
        statuses = db.scalars(select(Contact.status).where(
            Contact.channel == Channel.VOICE, Contact.caller_number.like("+86139%"))).all()
    assert statuses == [ContactStatus.ABANDONED] * 2
