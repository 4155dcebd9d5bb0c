"""Response headers: a Content-Security-Policy that allows no inline script, nothing
personal kept in a browser's or proxy's cache, and request ids that a client cannot forge
into the audit trail."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crisisline.audit.models import AuditEntry
from tests.conftest import APP_PACKAGES, ROOT, login
from tests.world import PASSWORD

TEMPLATE_DIRS = [ROOT / package / "templates" for package in APP_PACKAGES
                 if (ROOT / package / "templates").is_dir()]
ROLE_USERS = ("volunteer", "counselor", "supervisor", "liaison", "reporter", "admin")


def pages_seen(app, world) -> list:
    """Every role's pages as a browser meets them, and the anonymous ones (responses)."""
    responses = []
    anonymous = app.test_client()
    for path in ("/login", "/chat", "/no-such-page"):
        responses.append(anonymous.get(path))
    page = anonymous.get("/chat").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    anonymous.post("/chat", data={"csrf_token": token, "body": "我想找人聊聊"})
    responses.append(anonymous.get("/chat"))  # the conversation, with its script
    assert 'id="chat-transcript"' in responses[-1].get_data(as_text=True)
    for name in ROLE_USERS:
        browser = app.test_client()
        login(browser, f"t_{name}", PASSWORD)
        responses.append(browser.get("/", follow_redirects=True))
    case_id = world.records["team_case"].id
    browser = app.test_client()
    login(browser, "t_supervisor", PASSWORD)
    for path in (f"/cases/{case_id}", "/audit", "/break-glass/reviews"):
        responses.append(browser.get(path))
    return responses


def directives(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_every_page_has_a_content_security_policy_without_inline_script(app, world):
    for response in pages_seen(app, world):
        csp = directives(response)
        where = response.request.path
        assert csp, f"{where} has no Content-Security-Policy"
        scripts = csp.get("script-src", csp.get("default-src"))
        assert scripts == ["'self'"], (where, scripts)
        assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
        assert "'unsafe-eval'" not in str(csp) and "'unsafe-inline'" not in str(csp), where


def test_the_socket_connection_is_allowed_by_the_policy(client):
    csp = directives(client.get("/login", base_url="https://hotline.example.cn"))
    assert csp["connect-src"] == ["'self'", "wss://hotline.example.cn"]


def test_no_template_holds_an_inline_script_or_event_handler():
    found = []
    for folder in TEMPLATE_DIRS:
        for template in folder.rglob("*.html"):
            text = template.read_text(encoding="utf-8")
            for tag in re.findall(r"<script\b[^>]*>", text, re.I):
                if "src=" not in tag:
                    found.append((template.name, tag))
            found += [(template.name, handler) for handler in
                      re.findall(r"<[^>]*\son[a-z]+\s*=", text, re.I)]
            found += [(template.name, "javascript:") for _ in
                      re.findall(r"javascript:", text, re.I)]
            found += [(template.name, "style") for _ in
                      re.findall(r"<style\b|\sstyle\s*=", text, re.I)]
    assert found == []


def test_pages_and_api_answers_are_never_stored_by_a_cache(app, world, api):
    for response in pages_seen(app, world):
        assert response.headers.get("Cache-Control") == "no-store", response.request.path
    answer = api("counselor").get(f"/api/cases/{world.records['team_case'].id}")
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_anonymous_student_chat_is_never_stored_by_a_cache(client):
    assert client.get("/chat").headers.get("Cache-Control") == "no-store"


def test_static_files_may_be_cached(client):
    with client.get("/static/crisisline.css") as response:
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("supplied", [
    "x" * 65, "short", "has space in it", "<script>alert(1)</script>", "abc\u202edef-1234",
    "request/../../etc", "id;drop-table"], ids=lambda v: repr(v)[:20])
def test_a_malformed_client_request_id_is_replaced_by_a_fresh_one(client, ctx, world,
                                                                   supplied):
    login(client, "t_supervisor", PASSWORD)
    response = client.get(f"/api/cases/{world.records['team_case'].id}",
                          headers={"X-Request-ID": supplied})
    assert response.status_code == 200
    assigned = response.headers["X-Request-ID"]
    assert assigned != supplied and re.fullmatch(r"[0-9a-f]{32}", assigned)
    with ctx() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.read")).one()
    assert entry.request_id == assigned


@pytest.mark.parametrize("supplied", ["req-123", "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                                      "lb.01_" + "a" * 58])
def test_a_well_formed_client_request_id_is_kept(client, supplied):
    assert client.get("/login", headers={"X-Request-ID": supplied}).headers[
        "X-Request-ID"] == supplied
