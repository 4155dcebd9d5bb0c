"""Browser tests: Playwright driving Debian's chromium (installed by `make browser`) against
the demo as `crisisline demo` runs it: a seeded database, `crisisline serve` and a
`crisisline worker`, each its own process (PostgreSQL and Redis when the test run has them).

Playwright is never allowed to download a browser: it is handed the system chromium. Without
chromium these tests are skipped on a developer's machine and fail in CI (CI=true), so CI
cannot pass without having run them. Screenshots go to ``test-artifacts/`` (or
``CRISISLINE_TEST_ARTIFACTS``).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_DATABASE_URL, TEST_REDIS_URL, postgres_schema

CHROMIUM = (os.environ.get("CRISISLINE_CHROMIUM") or shutil.which("chromium")
            or "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("CRISISLINE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
PASSWORD = "demo-browser-1"


@dataclass
class DemoSite:
    url: str
    database_url: str
    instance_path: Path


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"Debian's chromium is not installed at {CHROMIUM}: run `make browser`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory, browser):
    folder = tmp_path_factory.mktemp("demo-site")
    database = (postgres_schema("browser") if TEST_DATABASE_URL
                else nullcontext(f"sqlite:///{folder / 'demo.sqlite'}"))
    with database as database_url:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("CRISISLINE_", "TWILIO_"))}
        env.update(CRISISLINE_DATABASE_URL=database_url, CRISISLINE_PUBLIC_URL=url,
                   CRISISLINE_INSTANCE_PATH=str(folder / "instance"))
        if TEST_REDIS_URL:
            env["CRISISLINE_REDIS_URL"] = TEST_REDIS_URL
        me = [sys.executable, "-m", "crisisline.cli"]
        for step in (["init"], ["seed-demo", "--password", PASSWORD]):
            subprocess.run(me + step, env=env, cwd=folder, check=True, capture_output=True,
                           timeout=180)
        processes = [_start(me + ["serve", "--port", str(port)], env, folder / "serve.log"),
                     _start(me + ["worker", "--concurrency=1"], env, folder / "worker.log")]
        try:
            _wait_for(folder / "worker.log", "ready")
            _wait_for_port(port)
            yield DemoSite(url, database_url, folder / "instance")
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def open_page(browser, demo_site):
    """A fresh browser context (its own cookies) per call, closed after the test."""
    contexts = []

    def make(viewport=(1280, 900)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      base_url=demo_site.url, locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_sideways_scroll(page) -> None:
    """The page, laid out with its stylesheet, is no wider than the window: measured only
    once the page has loaded, or a page measured before its CSS arrives looks too wide."""
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url} is {width} px wide"


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    """Sign in as a person would: by keyboard, from the login page."""
    page.goto("/login")
    page.locator("#username").click()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_load_state()


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("w") as output:  # a file, not a pipe: a full pipe would stall the process
        return subprocess.Popen(command, env=env, cwd=log.parent, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(log: Path, needle: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{log.name} never said {needle!r}:\n{log.read_text()[-3000:]}")


def _wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
