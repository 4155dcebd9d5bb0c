"""Demo traffic: Twilio's side of calls and texts, signed as Twilio signs them.

``crisisline simulate`` uses this to fill a running demo's queue. Each simulated call
dials in, answers the menu (pressing 1 when in danger, 2 for English), asks for the hold
message as Twilio's queue does, and some callers hang up while waiting (so they land on the
callback list). Each text is a message a student might send; a share of both are high
risk. Only the far side is fake: the server receives exactly what Twilio would send.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests
from twilio.request_validator import RequestValidator

ACCOUNT = "AC" + "0" * 32

CALM_TEXTS = [
    "你好，请问现在有人在吗？", "最近考试压力好大，晚上睡不着", "和室友闹矛盾了，不知道怎么办",
    "我爸妈天天吵架，我在家待不下去", "感觉没有人理解我，好孤独", "我想咨询一下心理咨询怎么预约",
    "分手以后一直哭，什么都不想做", "I feel so stressed about my exams",
    "Is anyone there? I need to talk",
]
RISKY_TEXTS = [
    "我真的不想活了，太累了", "遗书已经写好了，今晚就结束吧", "我在天台上，马上就跳",
    "药已经吃了，现在头好晕", "我想割腕，刀就在手边", "我同桌说今晚要从教学楼跳下去",
    "I want to kill myself tonight", "I took a lot of pills an hour ago",
]


@dataclass
class Report:
    """What was sent, and what the server said."""

    sent: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.sent['calls']} calls ({self.sent['imminent_calls']} pressed 1, "
                 f"{self.sent['abandoned']} hung up waiting)",
                 f"{self.sent['texts']} texts ({self.sent['risky_texts']} high risk)"]
        text = "sent " + ", ".join(parts)
        if self.failures:
            text += f"; {len(self.failures)} request(s) failed, first: {self.failures[0]}"
        return text


class Simulator:
    """Sends signed webhooks to ``target`` (default: the public URL they are signed for)."""

    def __init__(self, public_url: str, auth_token: str, hotline_number: str, *,
                 target: str | None = None, seed: int | None = None,
                 hang_up_after: tuple[float, float] = (15.0, 40.0)):
        self.public_url = public_url.rstrip("/")
        self.target = (target or public_url).rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.hotline = hotline_number
        self.random = random.Random(seed)
        self.hang_up_after = hang_up_after
        self.http = requests.Session()
        self.report = Report()
        self._lock = threading.Lock()
        self._hang_ups: list[threading.Timer] = []

    def run(self, calls: int, texts: int, rate: float, high_risk_share: float,
            abandon_share: float) -> Report:
        """Start ``calls`` calls and ``texts`` texts, ``rate`` per second, in random order;
        return once every simulated caller has finished."""
        kinds = ["call"] * calls + ["text"] * texts
        self.random.shuffle(kinds)
        for index, kind in enumerate(kinds):
            if index:
                time.sleep(1 / rate)
            risky = self.random.random() < high_risk_share
            if kind == "call":
                self.call(imminent=risky, english=self.random.random() < 0.1,
                          abandon=self.random.random() < abandon_share)
            else:
                self.text(self.random.choice(RISKY_TEXTS if risky else CALM_TEXTS), risky)
        for timer in self._hang_ups:
            timer.join()
        return self.report

    def call(self, *, imminent: bool, english: bool = False, abandon: bool = False) -> str:
        sid, caller = "CA" + uuid.uuid4().hex, self._phone_number()
        params = {"CallSid": sid, "AccountSid": ACCOUNT, "From": caller, "To": self.hotline,
                  "Caller": caller, "Called": self.hotline, "Direction": "inbound",
                  "ApiVersion": "2010-04-01"}
        if not self._post("/twilio/voice/incoming", {**params, "CallStatus": "ringing"}):
            return sid
        digits = {"Digits": "1"} if imminent else {"Digits": "2"} if english else {}
        self._post("/twilio/voice/menu", {**params, "CallStatus": "in-progress", **digits})
        self._post("/twilio/voice/wait", {**params, "CallStatus": "in-progress",
                                          "QueueSid": "QU" + "0" * 32, "QueuePosition": "1",
                                          "QueueTime": "0", "AvgQueueTime": "0",
                                          "CurrentQueueSize": "1"})
        self._count("calls", imminent and "imminent_calls")
        if abandon:
            timer = threading.Timer(self.random.uniform(*self.hang_up_after), self._post,
                                    args=("/twilio/voice/status",
                                          {**params, "CallStatus": "completed",
                                           "CallDuration": "30"}))
            timer.start()
            self._hang_ups.append(timer)
            self._count("abandoned")
        return sid

    def text(self, body: str, risky: bool = False) -> str:
        sid, sender = "SM" + uuid.uuid4().hex, self._phone_number()
        self._post("/twilio/sms/incoming", {
            "MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": sender,
            "To": self.hotline, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "ApiVersion": "2010-04-01"})
        self._count("texts", risky and "risky_texts")
        return sid

    def _post(self, path: str, params: dict) -> bool:
        signature = self.validator.compute_signature(self.public_url + path, params)
        try:
            response = self.http.post(self.target + path, data=params, timeout=15,
                                      headers={"X-Twilio-Signature": signature})
        except requests.RequestException as error:
            self._fail(f"{path}: {error.__class__.__name__}: {error}")
            return False
        if response.status_code >= 400:
            self._fail(f"{path}: HTTP {response.status_code}")
            return False
        return True

    def _phone_number(self) -> str:
        return "+86139" + "".join(self.random.choice("0123456789") for _ in range(8))

    def _count(self, *keys) -> None:
        with self._lock:
            for key in filter(None, keys):
                self.report.sent[key] += 1

    def _fail(self, problem: str) -> None:
        with self._lock:
            self.report.failures.append(problem)
