"""The user interface language: Simplified Chinese by default, English on request.

The pages are checked through the test client; the catalog is checked against what Babel
extracts from the code and templates (as ``pybabel extract -F babel.cfg`` would), and the
compiled ``messages.mo`` against ``messages.po``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import APP_PACKAGES, ROOT

CATALOG_DIR = ROOT / "crisisline" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
PO_FILE = CATALOG_DIR / "messages.po"
MO_FILE = CATALOG_DIR / "messages.mo"
# the application's packages: where user interface strings live (tests, migrations and
# virtual environments are not extracted)
SOURCE_PACKAGES = APP_PACKAGES
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None,
            "lazy_ngettext": (1, 2), "lazy_pgettext": ((1, "c"), 2)}


def _html_lang(page: str) -> str:
    match = re.search(r"<html\b[^>]*\blang=\"([^\"]*)\"", page)
    assert match, "the page has no <html lang=...>"
    return match.group(1)


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


# --- the language of the pages -------------------------------------------------------------

def test_the_login_page_is_in_simplified_chinese_by_default(client):
    page = _page(client, "/login")
    assert _html_lang(page) == "zh-CN"
    assert "登录" in page
    assert "用户名" in page
    assert "密码" in page
    assert "Sign in" not in page
    assert "Username" not in page


def test_english_is_chosen_with_lang_and_sticks_for_the_session(client):
    page = _page(client, "/login?lang=en")
    assert _html_lang(page) == "en"
    assert "Sign in" in page
    assert "Username" in page
    assert "登录" not in page
    assert "用户名" not in page

    page = _page(client, "/login")
    assert _html_lang(page) == "en", "the choice of English was not kept in the session"
    assert "Sign in" in page
    assert "登录" not in page


def test_chinese_can_be_chosen_again_after_english(client):
    _page(client, "/login?lang=en")
    page = _page(client, "/login?lang=zh_Hans_CN")
    assert _html_lang(page) == "zh-CN"
    assert "登录" in page
    assert _html_lang(_page(client, "/login")) == "zh-CN"


def test_the_choice_belongs_to_one_session_only(app, client):
    _page(client, "/login?lang=en")
    other = app.test_client()
    assert _html_lang(_page(other, "/login")) == "zh-CN"


@pytest.mark.parametrize("lang", ["xx", "", "EN", "zh", "en_US", "../en"])
def test_an_unknown_language_falls_back_to_chinese(client, lang):
    page = _page(client, f"/login?lang={lang}")
    assert _html_lang(page) == "zh-CN"
    assert "登录" in page
    assert "Sign in" not in page
    # and the unknown choice is not remembered
    assert _html_lang(_page(client, "/login")) == "zh-CN"


# --- the catalog ---------------------------------------------------------------------------

def _extracted_messages() -> dict[tuple[str | tuple[str, ...], str | None], list[str]]:
    """{(msgid, context): [where]} for every message in the application's code and templates."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, str(ROOT / "babel.cfg"))
    messages: dict[tuple[str | tuple[str, ...], str | None], list[str]] = {}
    # from the project root, as pybabel extract -F babel.cfg . does (the patterns are
    # relative to it), but only into the application's packages
    found = extract_from_dir(ROOT, method_map, options_map, keywords=KEYWORDS,
                             directory_filter=_in_the_application)
    for filename, lineno, message, _comments, context in found:
        messages.setdefault((message, context), []).append(f"{filename}:{lineno}")
    return messages


def _in_the_application(path: str) -> bool:
    relative = Path(path).relative_to(ROOT)
    # like pybabel's default filter, skip hidden and underscore folders (__pycache__ ...)
    return (relative.parts[0] in SOURCE_PACKAGES
            and not relative.name.startswith((".", "_")))


def _translated(string) -> bool:
    if isinstance(string, tuple):
        return bool(string) and all(part.strip() for part in string)
    return bool(string and string.strip())


def _read_po():
    with open(PO_FILE, "rb") as po:
        return read_po(po)


def test_the_extraction_sees_the_code_and_every_templates_folder():
    """Guards the completeness test below against extracting (and so checking) nothing."""
    where = {location.split(":")[0] for locations in _extracted_messages().values()
             for location in locations}
    for expected in ("crisisline/templates/accounts/login.html", "crisisline/i18n.py",
                     "crisisline/accounts/forms.py", "hotline/templates/", "casework/templates/"):
        assert any(expected in path for path in where), f"nothing extracted from {expected}"


def test_every_message_has_a_chinese_translation():
    catalog = _read_po()
    missing = []
    for (msgid, context), locations in sorted(_extracted_messages().items(), key=str):
        entry = catalog.get(msgid, context=context)
        if entry is None:
            missing.append(f"{msgid!r} (not in messages.po) at {', '.join(locations)}")
        elif entry.fuzzy:
            missing.append(f"{msgid!r} (fuzzy, so not compiled) at {', '.join(locations)}")
        elif not _translated(entry.string):
            missing.append(f"{msgid!r} (empty msgstr) at {', '.join(locations)}")
    assert not missing, (
        f"{len(missing)} message(s) have no Chinese translation; run pybabel extract/update, "
        "translate, and pybabel compile:\n  " + "\n  ".join(missing))


def test_the_compiled_catalog_is_up_to_date_with_messages_po():
    po = {(m.id, m.context): m.string for m in _read_po()
          # pybabel compile leaves out fuzzy and untranslated entries
          if m.id and not m.fuzzy and _translated(m.string)}
    with open(MO_FILE, "rb") as mo_file:
        mo = {(m.id, m.context): m.string for m in read_mo(mo_file) if m.id}
    stale = sorted(
        (f"{key[0]!r}: po={po.get(key)!r} mo={mo.get(key)!r}"
         for key in po.keys() | mo.keys() if po.get(key) != mo.get(key)))
    assert not stale, ("messages.mo does not match messages.po; run pybabel compile -d "
                       "crisisline/translations:\n  " + "\n  ".join(stale))
