"""Two gateway servers and two workers on one PostgreSQL and one Redis (DESIGN §2, §4).

Partners reach the replicas through a load balancer, so any request may land on either server
and any job on either worker. What a partner sees must not depend on which: a token from one
server works on the other, a nonce spent on one is spent on both, an Idempotency-Key answered by
one is replayed by the other, concurrent payments and settlement runs spread over both leave
exactly one effect each, and every webhook arrives once, signed with a key both servers publish.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import cycle
from typing import Any

import httpx

from gateway.auth.signatures import verify_request
from gateway.clock import business_date_of
from tests.customers.support import people
from tests.e2e.fleet import (
    Fleet,
    FleetPartner,
    WebhookReceiver,
    onboard,
    snooze_night_burst,
    staff_headers,
    wait_for,
)

BATCHES = 4
PER_BATCH = 10
DEPOSIT = 1_000_00
COMMUNITY = "/v1/scenarios/community"


class _SeenNonces:
    """The receiving partner's own replay check for webhook signatures."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    async def claim(self, scope: str, nonce: str, ttl_seconds: int) -> bool:
        fresh = (scope, nonce) not in self.seen
        self.seen.add((scope, nonce))
        return fresh


def _post_everywhere(
    partner: FleetPartner,
    replicas: list[httpx.Client],
    path: str,
    payload: Any,
    key: str,
) -> list[httpx.Response]:
    """The same request (same key and body, each copy signed afresh) sent to every replica at
    once, then each copy retried while the other holds the key (409), as a partner would."""

    def send(http: httpx.Client) -> httpx.Response:
        for _ in range(200):
            body, headers = partner.request("POST", path, payload, idempotency_key=key)
            resp = http.post(path, content=body, headers=headers)
            if resp.status_code != 409 or resp.json()["code"] != "idempotency_key_in_use":
                return resp
            time.sleep(0.05)
        raise AssertionError(f"{path}: key {key} stayed in flight")

    with ThreadPoolExecutor(len(replicas)) as pool:
        return list(pool.map(send, replicas))


def _once(responses: list[httpx.Response], status: int) -> dict[str, Any]:
    """Every copy got the same answer, and all but one of them were replays."""
    assert [r.status_code for r in responses] == [status] * len(responses), [
        r.text for r in responses
    ]
    assert len({r.content for r in responses}) == 1
    replayed = [r.headers.get("idempotent-replayed") == "true" for r in responses]
    assert replayed.count(False) == 1, replayed
    body: dict[str, Any] = responses[0].json()
    return body


def _signed_get(partner: FleetPartner, http: httpx.Client, path: str) -> dict[str, Any]:
    _, headers = partner.request("GET", path)
    resp = http.get(path, headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _verify_webhook(
    delivery: Mapping[str, Any], url: str, keys: dict[str, Any], nonces: _SeenNonces
) -> None:
    asyncio.run(
        verify_request(
            method="POST",
            target_uri=url,
            headers=delivery["headers"],
            body=delivery["body"],
            resolve_key=keys.get,
            nonces=nonces,
            nonce_scope="gateway",
        )
    )


def test_two_servers_two_workers_one_effect_each(fleet: Fleet) -> None:
    fleet.add_staff("fleet-maker", "ops_maker")
    fleet.add_staff("fleet-checker", "ops_checker")
    fleet.add_staff("fleet-money", "finance", "admin")
    # All four start together on the fresh database: their first start races for the signing key.
    for name in ("a", "b"):
        fleet.start_server(name)
    for name in ("w1", "w2"):
        fleet.start_worker(name)
    fleet.wait_ready("a", "b")

    with (
        WebhookReceiver() as hooks,
        httpx.Client(base_url=fleet.urls["a"], timeout=30) as a,
        httpx.Client(base_url=fleet.urls["b"], timeout=30) as b,
    ):
        replicas = [a, b]
        partner = onboard(fleet, a, "fleet-maker", "fleet-checker", webhook_url=hooks.url)
        money = staff_headers(b, "fleet-money")  # a staff token from b, used on a below

        # Both servers publish the same keys; a token from a is good on b.
        jwks = a.get("/.well-known/jwks.json").json()
        assert b.get("/.well-known/jwks.json").json() == jwks
        assert len(jwks["keys"]) == 1
        partner.fetch_token(a)
        assert _signed_get(partner, b, "/v1/partners/me")["id"] == partner.partner_id

        # A nonce spent on a is spent on b (Redis holds the nonces of every replica).
        _, headers = partner.request("GET", "/v1/partners/me")
        assert a.get("/v1/partners/me", headers=headers).status_code == 200
        replayed = b.get("/v1/partners/me", headers=headers)
        assert (replayed.status_code, replayed.json()["code"]) == (401, "signature_replayed")

        community = _once(
            _post_everywhere(
                partner,
                replicas,
                f"{COMMUNITY}/communities",
                {
                    "external_ref": "fleet-court",
                    "name": "Fleet Court",
                    "address": "1 Replica Rd",
                    "households": 60,
                },
                "community-1",
            ),
            201,
        )
        snooze_night_burst(fleet, a, community["id"])

        # Batches: each sent to both servers at once under one key: one batch each.
        batch_ids = [
            _once(
                _post_everywhere(
                    partner,
                    replicas,
                    "/v1/account-batches",
                    {
                        "scenario": "community",
                        "sub_channel": community["id"],
                        "items": [
                            row | {"external_ref": f"batch-{n}-row-{i}"}
                            for i, row in enumerate(people(1000 + n, PER_BATCH))
                        ],
                    },
                    f"batch-{n}",
                ),
                202,
            )["id"]
            for n in range(BATCHES)
        ]

        def batches_done() -> list[dict[str, Any]] | None:
            read = [
                _signed_get(partner, http, f"/v1/account-batches/{batch_id}")
                for batch_id, http in zip(batch_ids, cycle(replicas), strict=False)
            ]
            return read if all(r["status"].startswith("completed") for r in read) else None

        done = wait_for(batches_done, "the batches to complete", timeout=90)
        rows = [
            item
            for batch_id, http in zip(batch_ids, cycle(replicas), strict=False)
            for item in _signed_get(partner, http, f"/v1/account-batches/{batch_id}/items")["data"]
        ]
        assert [(r["opened"], r["rejected"]) for r in done] == [(PER_BATCH, 0)] * BATCHES, rows
        owners = [row["customer_id"] for row in rows]
        assert len(set(owners)) == BATCHES * PER_BATCH

        for owner, http in zip(owners, cycle(replicas), strict=False):
            funded = http.post(
                f"/admin/v1/sandbox/customers/{owner}/deposits",
                json={"amount": DEPOSIT},
                headers=money,
            )
            assert funded.status_code == 201, funded.text
        amounts = [100_00 + n for n in range(len(owners))]
        bills = _once(
            _post_everywhere(
                partner,
                replicas,
                f"{COMMUNITY}/bills",
                {
                    "items": [
                        {
                            "community_id": community["id"],
                            "unit": f"1-{n:03d}",
                            "customer_id": owner,
                            "item": "property_fee",
                            "period": "2026-11",
                            "amount": amount,
                            "due_date": "2026-12-31",
                        }
                        for n, (owner, amount) in enumerate(zip(owners, amounts, strict=True))
                    ]
                },
                "bills-2026-11",
            ),
            201,
        )["data"]

        # Every payment sent to both servers at once under its key, six payments at a time.
        def pay(n: int) -> dict[str, Any]:
            return _once(
                _post_everywhere(
                    partner,
                    replicas,
                    f"{COMMUNITY}/payments",
                    {"bill_id": bills[n]["id"], "customer_id": owners[n]},
                    f"pay-{n}",
                ),
                201,
            )

        with ThreadPoolExecutor(6) as pool:
            payments = list(pool.map(pay, range(len(bills))))
        assert [p["charged"] for p in payments] == amounts
        assert {p["status"] for p in payments} == {"succeeded"}
        paid = sum(amounts)

        # A settlement run asked of both servers at once settles the day once.
        today = business_date_of(datetime.now(UTC)).isoformat()
        with ThreadPoolExecutor(2) as pool:
            runs = list(
                pool.map(
                    lambda http: http.post(
                        "/admin/v1/settlements/run", json={"business_date": today}, headers=money
                    ),
                    replicas,
                )
            )
        assert [r.status_code for r in runs] == [202, 202], [r.text for r in runs]

        def settled() -> list[dict[str, Any]] | None:
            for run in runs:
                if (
                    a.get(f"/admin/v1/settlements/runs/{run.json()['id']}", headers=money).json()[
                        "status"
                    ]
                    != "completed"
                ):
                    return None
            found: list[dict[str, Any]] = b.get(
                f"/admin/v1/settlements?business_date={today}&partner_id={partner.partner_id}",
                headers=money,
            ).json()["data"]
            return found if found and all(s["payout_status"] == "paid" for s in found) else None

        [settlement] = wait_for(settled, "the settlement to be paid out", timeout=60)
        assert (settlement["count"], settlement["gross"]) == (len(bills), paid)
        assert settlement["payout"] == settlement["net"] == paid - settlement["fees"]

        balances = b.get("/admin/v1/ledger/trial-balance", headers=money).json()
        assert balances["total"] == 0
        by_account = {row["account"]: row["balance"] for row in balances["accounts"]}
        assert by_account["customer_funds"] == paid
        assert by_account.get(f"partner_payable:{partner.partner_id}:community", 0) == 0

        # Webhooks: each event once, from whichever worker, verifiable with the published keys.
        expected = {
            "account_batch.completed": BATCHES,
            "payment.succeeded": len(bills),
            "settlement.paid": 1,
        }

        def delivered() -> list[dict[str, Any]] | None:
            listed: list[dict[str, Any]] = _signed_get(
                partner, a, "/v1/webhook-deliveries?limit=500"
            )["data"]
            types = Counter(d["event_type"] for d in listed)
            if any(d["status"] != "succeeded" for d in listed) or any(
                types[t] < n for t, n in expected.items()
            ):
                return None
            return listed

        deliveries = wait_for(delivered, "every webhook to be delivered", timeout=90)
        types = Counter(d["event_type"] for d in deliveries)
        assert {t: types[t] for t in expected} == expected
        assert {d["attempts"] for d in deliveries} == {1}
        time.sleep(1)  # a duplicate delivery would have arrived by now
        received = Counter(r["event"]["id"] for r in hooks.received)
        assert set(received.values()) == {1}
        assert set(received) == {d["event_id"] for d in deliveries}
        keys: dict[str, Any] = {k["kid"]: k for k in b.get("/.well-known/jwks.json").json()["keys"]}
        nonces = _SeenNonces()
        for delivery in hooks.received:
            _verify_webhook(delivery, hooks.url, keys, nonces)

    assert all(fleet.alive(name) for name in ("a", "b", "w1", "w2"))
    assert not (fleet.logs / "no-key-file.json").exists()
