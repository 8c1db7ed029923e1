"""Headless Chromium (Debian's ``chromium`` package, found on PATH) driven by Playwright.

Playwright's own browser downloads are never used: ``.ci/run`` installs the system package, and a
machine without it fails these tests rather than skipping them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.conftest import live_server  # noqa: F401  (the real server process these tests drive)

# Runs write screenshots to a scratch directory; GATEWAY_SCREENSHOTS=docs/screenshots refreshes
# the committed ones, so an ordinary test run leaves the work tree clean.
SCREENSHOTS = Path(
    os.environ.get("GATEWAY_SCREENSHOTS") or Path(tempfile.gettempdir()) / "gateway-screenshots"
)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("install Debian's chromium package (bash .ci/run does)")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()
