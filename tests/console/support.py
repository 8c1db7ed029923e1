"""A console visitor as a test sees it: an httpx client that keeps cookies and fills in forms."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar import Litestar

from tests.conftest import TEST_PASSWORD

_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


class Visitor:
    """Each visitor has its own cookie jar, as two people at two browsers would."""

    def __init__(self, app: Litestar) -> None:
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
        )
        self.csrf = ""

    async def __aenter__(self) -> Visitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """Open a page and remember the CSRF token its forms carry."""
        resp = await self.http.get(path, **kwargs)
        if found := _CSRF.search(resp.text):
            self.csrf = found.group(1)
        return resp

    async def submit(self, path: str, *, csrf: bool = True, **fields: str) -> httpx.Response:
        """Post a form as the page would, with its hidden CSRF field unless told otherwise."""
        data = {**fields, **({"_csrf_token": self.csrf} if csrf else {})}
        return await self.http.post(path, data=data)

    async def sign_in(self, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
        await self.get("/console/login")
        return await self.submit("/console/login", username=username, password=password)
