"""SIGKILL in the middle of the work: nothing lost, nothing doubled, nothing half-written.

A killed worker's job is claimed again once its lease runs out (gateway/jobs/worker.py) and each
chunk of a batch commits with its openings, so a batch killed several times still opens every row
exactly once. A killed server loses its in-flight requests; the partner retries them under the
same Idempotency-Key on another replica and each payment happens once: either the dead request
committed (its stored response is replayed) or it left nothing but its key reservation, which
another replica takes over when the reservation's lease (60 s) runs out.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.clock import business_date_of
from gateway.idempotency.service import LEASE
from tests.customers.support import people
from tests.e2e.fleet import (
    Fleet,
    FleetPartner,
    WebhookReceiver,
    add_operations_staff,
    alive,
    onboard,
    snooze_night_burst,
    staff_headers,
    wait_for,
)

COMMUNITY = "/v1/scenarios/community"
IDEMPOTENCY_LEASE = LEASE.total_seconds()


def _post(partner: FleetPartner, http: httpx.Client, path: str, payload: Any) -> dict[str, Any]:
    body, headers = partner.request("POST", path, payload)
    resp = http.post(path, content=body, headers=headers)
    assert resp.status_code in (201, 202), resp.text
    out: dict[str, Any] = resp.json()
    return out


def _get(partner: FleetPartner, http: httpx.Client, path: str) -> dict[str, Any]:
    _, headers = partner.request("GET", path)
    resp = http.get(path, headers=headers)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


def _rows(partner: FleetPartner, http: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = _get(
            partner,
            http,
            f"/v1/account-batches/{batch_id}/items?limit=500{cursor and '&cursor='}{cursor}",
        )
        rows += page["data"]
        if not page["next_cursor"]:
            return rows
        cursor = page["next_cursor"]


def test_worker_killed_again_and_again_mid_batch(fleet: Fleet) -> None:
    # 150 chunks of 10: since chunks open set-based, 400 rows in chunks of 25 could finish
    # before the first kill landed.
    rows = 1500
    fleet.env["GATEWAY_BATCH_CHUNK_SIZE"] = "10"
    fleet.env["GATEWAY_JOB_LEASE_SECONDS"] = "4"
    add_operations_staff(fleet)
    fleet.start_server("a")
    fleet.wait_ready("a")
    with WebhookReceiver() as hooks, httpx.Client(base_url=fleet.urls["a"], timeout=30) as a:
        partner = onboard(fleet, a, "crash-maker", "crash-checker", webhook_url=hooks.url)
        partner.fetch_token(a)
        everyone = people(2026, 2 * rows)  # one generator: two seeds' people could overlap
        for seed in (1, 2):  # each seed kills at other points
            crowd = everyone[(seed - 1) * rows : seed * rows]
            _batch_survives_kills(fleet, partner, a, hooks, random.Random(seed), crowd)


def _batch_survives_kills(
    fleet: Fleet,
    partner: FleetPartner,
    a: httpx.Client,
    hooks: WebhookReceiver,
    rng: random.Random,
    crowd: list[dict[str, Any]],
) -> None:
    rows = len(crowd)
    items = [row | {"external_ref": f"{rng.random()}-{n}"} for n, row in enumerate(crowd)]
    batch = _post(partner, a, "/v1/account-batches", {"scenario": "community", "items": items})

    def progress() -> dict[str, Any]:
        return _get(partner, a, f"/v1/account-batches/{batch['id']}")

    kills = 0
    for round_ in range(3):
        name = f"w{round_}"
        fleet.start_worker(name)
        before = progress()["processed"]
        wait_for(
            lambda before=before, name=name: (
                alive(fleet, name) and progress()["processed"] > before
            ),
            f"{name} to open a chunk",
            150,
        )
        time.sleep(rng.uniform(0, 0.5))  # somewhere inside a later chunk, or between two
        if progress()["status"] != "processing":
            break
        fleet.kill(name)
        kills += 1
    assert kills, "the batch finished before any kill; raise rows"
    assert progress()["processed"] < rows

    fleet.start_worker("finisher")  # takes the killed worker's chunk once its lease ends
    done = wait_for(
        lambda: (p := progress())["status"].startswith("completed") and p, "completion", 120
    )
    opened = _rows(partner, a, batch["id"])
    refused = [i for i in opened if i["status"] != "opened"][:3]
    assert (done["status"], done["opened"], done["rejected"]) == ("completed", rows, 0), refused
    assert len(opened) == rows
    customers = list({i["customer_id"] for i in opened})
    assert len(customers) == rows
    # one core account each (the API shows account numbers masked, so read them unmasked)
    accounts = "SELECT count(DISTINCT account_no) FROM {} WHERE {} = ANY($1::text[])"
    assert fleet.fetchval(accounts.format("customers", "id"), customers) == rows
    assert fleet.fetchval(accounts.format("sandbox_accounts", "customer_ref"), customers) == rows

    # At-least-once delivery: the completion event may be retried, never split or changed.
    def completions() -> list[dict[str, Any]]:
        return [
            e
            for e in hooks.events("account_batch.completed")
            if e["data"]["batch_id"] == batch["id"]
        ]

    wait_for(completions, "the completion webhook", 60)
    assert len({e["id"] for e in completions()}) == 1
    assert completions()[0]["data"]["opened"] == rows
    for name in [n for n in fleet.procs if n.startswith(("w", "finisher"))]:
        fleet.kill(name)


def _open_and_fund(
    partner: FleetPartner, a: httpx.Client, money: dict[str, str], count: int
) -> tuple[str, list[str]]:
    community = _post(
        partner,
        a,
        f"{COMMUNITY}/communities",
        {"external_ref": "crash", "name": "Crash Court", "address": "9 Kill Rd", "households": 99},
    )
    batch = _post(
        partner,
        a,
        "/v1/account-batches",
        {"scenario": "community", "sub_channel": community["id"], "items": people(7, count)},
    )
    wait_for(
        lambda: _get(partner, a, f"/v1/account-batches/{batch['id']}")["status"] == "completed",
        "the owners' accounts",
        90,
    )
    owners = [row["customer_id"] for row in _rows(partner, a, batch["id"])]
    for owner in owners:
        funded = a.post(
            f"/admin/v1/sandbox/customers/{owner}/deposits",
            json={"amount": 1_000_00},
            headers=money,
        )
        assert funded.status_code == 201, funded.text
    return community["id"], owners


def test_server_killed_mid_payments_each_payment_happens_once(fleet: Fleet) -> None:
    count = 24
    add_operations_staff(fleet)
    for name in ("a", "b"):
        fleet.start_server(name)
    fleet.start_worker("w")
    fleet.wait_ready("a", "b")
    with (
        httpx.Client(base_url=fleet.urls["a"], timeout=30) as a,
        httpx.Client(base_url=fleet.urls["b"], timeout=30) as b,
    ):
        partner = onboard(fleet, a, "crash-maker", "crash-checker", webhook_url=None)
        partner.fetch_token(a)
        money = staff_headers(b, "crash-money")
        community_id, owners = _open_and_fund(partner, a, money, count)
        snooze_night_burst(fleet, a, community_id)
        amounts = [200_00 + n for n in range(count)]
        bills = _post(
            partner,
            a,
            f"{COMMUNITY}/bills",
            {
                "items": [
                    {
                        "community_id": community_id,
                        "unit": f"2-{n:03d}",
                        "customer_id": owner,
                        "item": "property_fee",
                        "period": "2026-11",
                        "amount": amount,
                        "due_date": "2026-12-31",
                    }
                    for n, (owner, amount) in enumerate(zip(owners, amounts, strict=True))
                ]
            },
        )["data"]
        path = f"{COMMUNITY}/payments"

        def payload(n: int) -> dict[str, str]:
            return {"bill_id": bills[n]["id"], "customer_id": owners[n]}

        # Every payment goes to a at once; a is killed while they are in flight.
        def first_try(n: int) -> httpx.Response | None:
            body, headers = partner.request("POST", path, payload(n), idempotency_key=f"pay-{n}")
            try:
                return a.post(path, content=body, headers=headers)
            except httpx.HTTPError:
                return None  # the connection died with the server: outcome unknown

        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(first_try, n) for n in range(count)]
            wait_for(
                lambda: any(f.done() and f.result() is not None for f in futures),
                "a first payment to finish",
                60,
                every=0.02,
            )
            fleet.kill("a")
            first = [f.result() for f in futures]
        answered = {n: r for n, r in enumerate(first) if r is not None and r.status_code == 201}
        assert len(answered) > 0, "no payment finished before the kill"
        assert len(answered) < count, "every payment finished before the kill; raise count"

        # The partner retries everything on b under the same keys.
        def retry(n: int) -> httpx.Response:
            deadline = time.monotonic() + IDEMPOTENCY_LEASE + 30
            while True:
                body, headers = partner.request(
                    "POST", path, payload(n), idempotency_key=f"pay-{n}"
                )
                resp = b.post(path, content=body, headers=headers)
                in_flight = resp.status_code == 409 and resp.json()["code"] == (
                    "idempotency_key_in_use"
                )
                if not in_flight or time.monotonic() > deadline:
                    return resp
                time.sleep(1)  # the dead request's reservation holds until its lease ends

        with ThreadPoolExecutor(8) as pool:
            retried = list(pool.map(retry, range(count)))
        assert [r.status_code for r in retried] == [201] * count, [r.text for r in retried]
        for n, resp in answered.items():
            assert resp.json() == retried[n].json()
            assert retried[n].headers["idempotent-replayed"] == "true"
        assert [r.json()["charged"] for r in retried] == amounts
        assert len({r.json()["id"] for r in retried}) == count

        # The restarted server answers like the survivor, and the books hold each payment once.
        fleet.start_server("a")
        fleet.wait_ready("a")
        a2 = httpx.Client(base_url=fleet.urls["a"], timeout=30)
        with a2:
            body, headers = partner.request("POST", path, payload(0), idempotency_key="pay-0")
            again = a2.post(path, content=body, headers=headers)
            assert again.json() == retried[0].json()
            assert again.headers["idempotent-replayed"] == "true"
            balances = a2.get("/admin/v1/ledger/trial-balance", headers=money).json()
        assert balances["total"] == 0
        by_account = {row["account"]: row["balance"] for row in balances["accounts"]}
        assert by_account["customer_funds"] == sum(amounts)
        today = business_date_of(datetime.now(UTC)).isoformat()
        run = b.post("/admin/v1/settlements/run", json={"business_date": today}, headers=money)
        assert run.status_code == 202, run.text

        def settled() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = b.get(
                f"/admin/v1/settlements?business_date={today}&partner_id={partner.partner_id}",
                headers=money,
            ).json()["data"]
            return found or None

        [settlement] = wait_for(settled, "the settlement", 60)
        assert (settlement["count"], settlement["gross"]) == (count, sum(amounts))
