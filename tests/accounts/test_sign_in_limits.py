"""Wrong passwords slow down the (account, address) pair that typed them, with waits that
grow; the account's owner elsewhere signs in as usual, so nobody can lock them out."""
from __future__ import annotations

import time

from sqlalchemy import select

from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.world import PASSWORD

ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


def browser(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_the_owner_signs_in_from_elsewhere_while_an_attacker_is_slowed_down(app, world):
    attacker = browser(app, ATTACKER)
    statuses = [login(attacker, "t_volunteer", f"guess-{n}").status_code for n in range(8)]
    assert statuses[:5] == [401] * 5 and 429 in statuses[5:]
    assert login(attacker, "t_volunteer", PASSWORD).status_code == 429  # not even checked
    assert login(browser(app, OWNER), "t_volunteer", PASSWORD).status_code == 302


def test_the_waits_grow_after_five_wrong_passwords(app, world):
    attacker = browser(app, ATTACKER)
    for n in range(5):
        assert login(attacker, "t_volunteer", f"guess-{n}").status_code == 401
    waits = []
    for n in range(3):
        refused = login(attacker, "t_volunteer", f"again-{n}")
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        assert f"请 {waits[-1]} 秒后再试" in refused.get_data(as_text=True)
        time.sleep(waits[-1] + 0.2)
        assert login(attacker, "t_volunteer", f"after-{n}").status_code == 401
    assert waits == [1, 2, 4]


def test_a_slowed_attempt_is_audited_as_refused(app, ctx, world):
    attacker = browser(app, ATTACKER)
    for n in range(6):
        login(attacker, "t_volunteer", f"guess-{n}")
    with ctx() as db:
        entry = db.scalars(select(AuditEntry).where(
            AuditEntry.action == "auth.login_throttled")).one()
    assert (entry.outcome, entry.source_address) == ("denied", ATTACKER)
    assert entry.object_id == str(world.users["volunteer"].id)


def test_a_successful_sign_in_forgets_the_pairs_earlier_mistakes(app, world):
    owner = browser(app, OWNER)
    for n in range(4):
        assert login(owner, "t_volunteer", f"typo-{n}").status_code == 401
    assert login(owner, "t_volunteer", PASSWORD).status_code == 302
    again = browser(app, OWNER)  # signed out: a fresh browser at the same address
    for n in range(4):
        assert login(again, "t_volunteer", f"typo-{n}").status_code == 401
    assert login(again, "t_volunteer", PASSWORD).status_code == 302


def test_one_address_still_has_a_generous_limit_over_all_accounts(app, world):
    office = browser(app, ATTACKER)
    statuses = [login(office, f"someone-{n}", "wrong-password").status_code for n in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429
