"""Twilio's REST API through the real ``twilio`` library.

Twilio's servers cannot be reached from a development machine or CI. There (and whenever
``CRISISLINE_TWILIO_TRANSPORT=record``) the library is given a recording HTTP client: it
answers as Twilio does and appends each request to ``instance/twilio-outbox.jsonl``, so the
demo and the tests exercise the same calls production makes.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from typing import Callable

from flask import current_app
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from crisisline.database import db

log = logging.getLogger(__name__)
REST_TIMEOUT_SECONDS = 10


class RecordingHttpClient(HttpClient):
    """Records every REST request and answers it as Twilio would; nothing leaves here."""

    _lock = threading.Lock()

    def __init__(self, outbox: Path):
        super().__init__(logger=logging.getLogger("twilio.http_client"), is_async=False)
        self.outbox = outbox

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        sid = "SM" + uuid.uuid4().hex
        record = {"method": method, "url": url, "params": params or {}, "data": data or {},
                  "sid": sid}
        with self._lock, self.outbox.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        body = {"sid": sid, "status": "queued", "to": (data or {}).get("To"),
                "from": (data or {}).get("From"), "body": (data or {}).get("Body"),
                "account_sid": auth[0] if auth else None}
        return Response(201, json.dumps(body))


def rest_client() -> Client | None:
    """The Twilio REST client, or None when Twilio is not configured."""
    config = current_app.config
    if not (config["TWILIO_ACCOUNT_SID"] and config["TWILIO_AUTH_TOKEN"]):
        return None
    http_client = TwilioHttpClient(timeout=REST_TIMEOUT_SECONDS)  # the library waits forever
    if config["TWILIO_TRANSPORT"] == "record":
        http_client = RecordingHttpClient(Path(current_app.instance_path) / "twilio-outbox.jsonl")
    return Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                  http_client=http_client)


@dataclass(frozen=True)
class Text:
    """One SMS for a record the caller has locked and checked unsent.

    ``mark(status, sid=None)`` records the outcome on that record."""

    to: str | None
    body: str
    mark: Callable[..., None]
    what: str


def text_once(to: str | None, sender: str | None, body: str, mark: Callable[..., None],
              what: str) -> str:
    """Send one SMS at most once (see :func:`text_each_once`)."""
    return text_each_once([Text(to, body, mark, what)], sender)[0]


TEXT_CHUNK = 10  # texts a caller marks "sending" together: the most a crash leaves unsent


def text_each_once(texts: list[Text], sender: str | None) -> list[str]:
    """Send each SMS at most once, for records the caller has locked and checked unsent;
    returns each one's outcome.

    ``sending`` is committed on all of them before Twilio is called (one commit, which
    also ends the caller's locks), so a worker that dies mid-way leaves them marked and no
    retry or second delivery can send one again; then ``sent`` (with Twilio's sid),
    ``failed``, or ``not_sent`` when Twilio, the sender or the recipient's number is
    missing. A crash strands what was marked and not yet sent: callers with many texts
    hand them over ``TEXT_CHUNK`` at a time, each chunk locked and checked afresh."""
    client = rest_client()
    outcomes: list[str | None] = [None] * len(texts)
    for index, text in enumerate(texts):
        if client is None or not sender or not text.to:
            log.error("%s not texted: Twilio, the sender or the recipient's number is "
                      "missing", text.what)
            outcomes[index] = _mark(text, "not_sent")
        else:
            _mark(text, "sending")
    db.commit()
    for index, text in enumerate(texts):
        if outcomes[index] is not None:
            continue
        try:
            message = client.messages.create(to=text.to, from_=sender, body=text.body)
        except Exception:  # noqa: BLE001  (Twilio's answer, or the network: this one failed)
            log.exception("texting %s failed", text.what)
            outcomes[index] = _mark(text, "failed")
        else:
            outcomes[index] = _mark(text, "sent", message.sid)
    db.commit()
    return outcomes


def _mark(text: Text, status: str, sid: str | None = None) -> str:
    text.mark(status, sid)
    return status


def recorded_requests() -> list[dict]:
    """What the recording client has sent so far (tests and the demo read it)."""
    outbox = Path(current_app.instance_path) / "twilio-outbox.jsonl"
    if not outbox.exists():
        return []
    return [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
