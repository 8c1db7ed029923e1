"""Simplified Chinese by default, English by a switch; every message has its translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from litestar import Litestar

from gateway.console import i18n
from tests.conftest import StaffFactory
from tests.console.support import Visitor

CONSOLE = Path(i18n.__file__).parent


async def test_chinese_by_default_english_by_switch(app: Litestar, staff: StaffFactory) -> None:
    await staff.create("olga", "ops_maker")
    async with Visitor(app) as olga:
        login = await olga.get("/console/login")
        assert '<html lang="zh-CN">' in login.text
        assert "登录" in login.text
        switched = await olga.submit("/console/language", lang="en", next="/console/login")
        assert switched.headers["location"] == "/console/login"
        login = await olga.get("/console/login")
        assert '<html lang="en">' in login.text
        assert "Sign in" in login.text
        assert "登录" not in login.text
        assert "简体中文" in login.text  # the way back
        await olga.sign_in("olga")
        page = await olga.get("/console/applications")
        assert "Partner applications" in page.text
        ignored = await olga.submit("/console/language", lang="fr", next="/console/applications")
        assert "console_lang=" not in ignored.headers.get("set-cookie", "")


def test_every_message_has_a_chinese_translation() -> None:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    extracted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, *_ in extract_from_dir(CONSOLE, method_map, options)
    }
    with (CONSOLE / "locale/zh_CN/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    assert extracted - translated == set(), "run pybabel update (see gateway/console/i18n.py)"
    assert not list(catalog.check()), "placeholders differ between a message and its translation"
