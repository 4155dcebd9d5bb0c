"""1,000 concurrent edits of the same case: every one is either applied once or refused with
409; none is lost silently.

A real server (``crisisline serve``, its own process, on PostgreSQL) takes 1,000 edits of
one case from 48 clients at once. Every edit carries the case ``version`` its client just
read, as the case page does:

- three in four hand the case to a counselor (``POST /api/cases/<id>/assign``), each edit
  to a counselor of its own, so an applied edit is recognisable in the case's history;
- one in four moves the case through the return cycle of a student on leave
  (``apply_return`` by the team's counselor, ``reject_return`` by the supervisor with a note
  naming the edit), workflow events through ``POST /api/cases/<id>/events/<event>``.

Assignment is the one versioned edit that can be applied any number of times; the
workflow events are versioned too, and this cycle is the one that can be gone round
without new documents or new follow-ups each time.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from casework.models import Case, CaseHistory
from crisisline.accounts.models import (HospitalKind, Membership, Organisation, OrgKind, Role,
                                        Team, TeamMember, User)
from crisisline.audit.models import AuditEntry
from crisisline.database import utcnow
from tests.conftest import PDF, needs_postgres

EDITS = 1000
CLIENTS = 48
DISPATCH = {"risk_level": "high", "responder": "周老师", "emergency_services": []}


@pytest.fixture
def engine(cli_database_url):
    """The test's own connection to the database the command line works on."""
    engine = create_engine(cli_database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


@needs_postgres
@pytest.mark.commits
def test_a_thousand_concurrent_edits_are_each_applied_once_or_refused_with_409(
        crisisline, engine):
    crisisline("init")
    people = _centre_with_a_thousand_counselors(engine)
    tokens = {name: crisisline("users", "token", name).stdout.strip().splitlines()[-1]
              for name in ("edits_supervisor", "edits_counselor")}
    server = Server(crisisline)
    try:
        api = {name: Api(server.url, token) for name, token in tokens.items()}
        supervisor, counselor = api["edits_supervisor"], api["edits_counselor"]
        server.wait_until_serving(supervisor)
        case_id, documents = _a_student_on_leave(counselor, people["hospital"])
        before = supervisor.case(case_id)
        with Session(engine) as session:
            history_before = max(session.scalars(select(CaseHistory.id).where(
                CaseHistory.case_id == case_id)))

        def edit(n: int) -> dict:
            """Read the case, then change it at the version just read."""
            case = supervisor.case(case_id)
            if n % 4:
                owner_id = people["targets"][n]
                response = supervisor.post(f"/api/cases/{case_id}/assign",
                                           {"owner_id": owner_id, "version": case["version"]})
                return {"n": n, "status": response.status_code, "event": "assign",
                        "marker": owner_id, "body": _body(response)}
            if case["state"] == "on_leave":
                event, actor, data = "apply_return", counselor, documents
            else:
                event, actor, data = "reject_return", supervisor, {"note": f"edit {n}"}
            response = actor.post(f"/api/cases/{case_id}/events/{event}",
                                  {"version": case["version"], "data": data})
            return {"n": n, "status": response.status_code, "event": event,
                    "marker": data.get("note"), "body": _body(response)}

        with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
            results = list(clients.map(edit, range(EDITS)))
        after = supervisor.case(case_id)
    finally:
        server.stop()

    statuses = Counter(result["status"] for result in results)
    assert set(statuses) <= {200, 409}, (statuses, [r["body"] for r in results
                                                    if r["status"] not in (200, 409)][:3],
                                         server.tail())
    applied = sorted((r for r in results if r["status"] == 200),
                     key=lambda r: r["body"]["version"])
    assert statuses[200] == len(applied) > 1 and statuses[409] > 0, statuses

    # each applied edit moved the version on by exactly one, and was answered with it
    assert [r["body"]["version"] for r in applied] == list(
        range(before["version"] + 1, before["version"] + len(applied) + 1))
    assert after["version"] == before["version"] + len(applied)

    # the chain holds (entries a process left queued are chained by the verifier first)
    assert "audit chain intact" in crisisline("audit", "verify").stdout
    with Session(engine) as session:
        history = session.scalars(select(CaseHistory).where(
            CaseHistory.case_id == case_id, CaseHistory.id > history_before)
            .order_by(CaseHistory.id)).all()
        audited = session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id),
            AuditEntry.action.in_(("case.assign", "case.apply_return", "case.reject_return")))
        ).all()
        case = session.get(Case, case_id)
        final = (case.version, case.state, case.owner_id)
    # the history holds the applied edits and nothing else, in the order of their versions
    assert [(row.event, _marker(row)) for row in history] == [
        (r["event"], r["marker"]) for r in applied]
    assert Counter(audited) == Counter(f"case.{r['event']}" for r in applied)
    assigned = [r for r in applied if r["event"] == "assign"]
    assert final == (after["version"], history[-1].to_state,
                     assigned[-1]["marker"] if assigned else people["counselor"])
    # a refused edit left no trace: its marker is nowhere in the history
    refused = {r["marker"] for r in results if r["status"] == 409 and r["marker"]}
    assert refused.isdisjoint(_marker(row) for row in history)


def _body(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return response.text


def _marker(row: CaseHistory):
    return row.data.get("owner_id") if row.event == "assign" else row.data.get("note")


class Api:
    """One user calling the JSON API over HTTP with their Bearer token, one connection per
    client thread."""

    def __init__(self, url: str, token: str):
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}
        self.local = threading.local()

    @property
    def http(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.url + path, headers=self.headers, timeout=60)

    def post(self, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self.http.post(self.url + path, headers=self.headers, timeout=60, **kwargs)

    def case(self, case_id: int) -> dict:
        response = self.get(f"/api/cases/{case_id}")
        assert response.status_code == 200, response.text
        return response.json()


class Server:
    """``crisisline serve`` on a free port, its output drained and kept."""

    def __init__(self, crisisline):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = crisisline.start("serve", "--port", str(port))
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def tail(self, lines: int = 40) -> str:
        return "".join(self.lines[-lines:])

    def wait_until_serving(self, api: Api, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if api.get("/api/workflow").status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not come up:\n{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._reader.join(timeout=10)
        self.process.stdout.close()


def _centre_with_a_thousand_counselors(engine) -> dict:
    """A centre with its on-duty team (one counselor), a supervisor, a psychiatric hospital,
    and a thousand more counselors to hand the case to."""
    with Session(engine) as session:
        centre = Organisation(code="EDITS-C", name="centre", kind=OrgKind.HOTLINE_CENTRE)
        hospital = Organisation(code="EDITS-H", name="hospital", kind=OrgKind.HOSPITAL,
                                hospital_kind=HospitalKind.SPECIALIST_PSYCHIATRIC)
        session.add_all([centre, hospital])
        session.flush()

        def user(name: str, role: Role) -> User:
            person = User(username=name, display_name=name, role=role, password_hash="-",
                          memberships=[Membership(organisation_id=centre.id)])
            session.add(person)
            return person
        supervisor = user("edits_supervisor", Role.SUPERVISOR)
        counselor = user("edits_counselor", Role.COUNSELOR)
        targets = [user(f"edits_target{n}", Role.COUNSELOR) for n in range(EDITS)]
        team = Team(centre_id=centre.id, name="on duty")
        session.add(team)
        session.flush()
        session.add(TeamMember(team_id=team.id, user_id=counselor.id))
        session.commit()
        return {"hospital": hospital.id, "supervisor": supervisor.id, "counselor": counselor.id,
                "targets": [target.id for target in targets]}


def _a_student_on_leave(counselor: Api, hospital_id: int) -> tuple[int, dict]:
    """A case taken to hospital and on leave, with the documents a return needs attached."""
    response = counselor.post("/api/cases", {"source": "parent", "risk_level": "high"})
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    steps = [("dispatch", DISPATCH),
             ("contact_guardian", {"arrived_at": utcnow().isoformat(), "watcher": "王老师"}),
             ("refer_to_hospital", {"hospital_id": hospital_id,
                                    "legal_basis": "guardian_consent"}),
             ("start_leave", {"kind": "leave", "reason": "home_rest",
                              "expected_end": (date.today() + timedelta(days=30)).isoformat()})]
    for event, data in steps:
        version = counselor.case(case_id)["version"]
        response = counselor.post(f"/api/cases/{case_id}/events/{event}",
                                  {"version": version, "data": data})
        assert response.status_code == 200, (event, response.text)
    ids = {}
    for kind, issuer in (("recovery_certificate", str(hospital_id)),
                         ("return_application", None)):
        form = {"kind": kind, **({"issued_by_hospital_id": issuer} if issuer else {})}
        response = counselor.post(f"/api/cases/{case_id}/documents", data=form,
                                  files={"file": (f"{kind}.pdf", PDF, "application/pdf")})
        assert response.status_code == 201, response.text
        ids[kind] = response.json()["id"]
    return case_id, {"certificate_document_id": ids["recovery_certificate"],
                     "application_document_id": ids["return_application"]}
