"""Schemathesis against the exported OpenAPI, with every request authenticated like a real client.

Schemathesis generates each operation's cases from ``openapi/openapi.json`` (the file partners
download, kept in step with the app by the OpenAPI drift check). The cases are not sent through
schemathesis' own transports: those would run the app on another event loop, while the test's
database engine and lifespan live on the test's. Instead Hypothesis runs in a worker thread and
hands every case to the test's loop, where the test's ``send`` signs it (RFC 9421, fresh nonce,
Content-Digest, an Idempotency-Key on POST) or adds the staff token, and sends it in process.
``requests`` (a schemathesis dependency) only serialises a case into its exact bytes.

The budget is fixed and derandomized (same cases on every run), with no shrinking, so CI is
reproducible and bounded; ``GATEWAY_FUZZ_EXAMPLES`` raises the budget for a deeper local run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "openapi" / "openapi.json"
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# RFC 6749 answers the token endpoint's errors; everything else answers RFC 9457 (DESIGN §3).
NOT_PROBLEM_JSON = frozenset({"/v1/oauth/token"})
_REQUEST_ARGS = ("method", "url", "headers", "params", "data", "json", "files", "cookies")

Send = Callable[[str, str, dict[str, str], bytes], Awaitable[httpx.Response]]


def operations(prefixes: Iterable[str], last: Iterable[str] = ()) -> list[Any]:
    """The schema's operations under ``prefixes``; those labelled in ``last`` run at the end
    (they change the caller's own credentials)."""
    schema = schemathesis.openapi.from_path(SCHEMA_PATH)
    # The test supplies real credentials to every request; generated (or dropped) security
    # headers would be overwritten by them, so a "missing token" case would reach the handler.
    schema.config.generation.update(with_security_parameters=False)
    ops = [r.ok() for r in schema.get_all_operations()]
    chosen = [op for op in ops if op.path.startswith(tuple(prefixes))]
    tail = set(last)
    return [op for op in chosen if op.label not in tail] + [op for op in chosen if op.label in tail]


def _prepare(case: Any) -> requests.PreparedRequest:
    kwargs = case.as_transport_kwargs(base_url="http://testserver.local")
    return requests.Request(**{k: v for k, v in kwargs.items() if k in _REQUEST_ARGS}).prepare()


def _problem_json(path: str, response: httpx.Response) -> str | None:
    if response.status_code < 400 or path in NOT_PROBLEM_JSON:
        return None
    media = response.headers.get("content-type", "").split(";")[0]
    if media != "application/problem+json":
        return f"{response.status_code} answered as {media!r}, not problem+json"
    body = response.json()
    missing = {"type", "title", "status", "code", "request_id"} - set(body)
    if missing or body["status"] != response.status_code:
        return f"{response.status_code} problem without {sorted(missing)} or wrong status: {body}"
    return None


def fuzz(operations: list[Any], send: Send, loop: asyncio.AbstractEventLoop) -> list[str]:
    """Run each operation's positive and negative cases; return one line per failing operation.

    Runs in a worker thread: each request goes to ``loop`` and the thread waits for its answer.
    """
    failures = []
    for op in operations:
        try:
            _fuzz_operation(op, send, loop)
        except (Exception, BaseExceptionGroup) as e:  # one line per operation
            failures.append(f"{op.label}: {type(e).__name__}: {str(e)[:1500]}")
    return failures


def _fuzz_operation(op: Any, send: Send, loop: asyncio.AbstractEventLoop) -> None:
    strategy = st.one_of(
        op.as_strategy(generation_mode=GenerationMode.POSITIVE),
        op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        prepared = _prepare(case)
        body = prepared.body or b""
        body = body.encode() if isinstance(body, str) else body
        future = asyncio.run_coroutine_threadsafe(
            send(case.method.upper(), prepared.path_url, dict(prepared.headers), body), loop
        )
        response = future.result(timeout=60)
        case.validate_response(response, checks=CHECKS)
        problem = _problem_json(op.path, response)
        if problem:
            raise AssertionError(problem)

    run()


def idempotent(method: str, headers: dict[str, str]) -> dict[str, str]:
    """A fresh Idempotency-Key on every POST that does not already carry one."""
    if method == "POST" and not any(k.lower() == "idempotency-key" for k in headers):
        return {**headers, "Idempotency-Key": str(uuid.uuid4())}
    return headers
