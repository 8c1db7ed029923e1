"""SIGKILL in the middle of the long money runs: a settlement run and a stored-value wind-down.

A settlement run is one job and one database transaction (gateway/settlement/runs.py): a worker
killed mid-run leaves nothing settled, and the run is claimed again once the job's lease runs
out; a worker killed between payouts leaves the unpaid ones queued. The run ends with two
workers side by side, as in production, and a run longer than a lease: the busy worker keeps its
lease (gateway/jobs/worker.py), so the other never takes the run over.

A wind-down is one staff request and one database transaction (winddown.py) that pays holders
back through the core; here the core is its own process, as a bank's is, so a server killed
mid-wind-down leaves the core's payments standing while the gateway forgets them, and the retry
on another replica must meet each of them again under the same reference instead of paying twice.

Each test draws its kill moments from its seed.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bench.settlement import copy_transactions
from gateway.clock import business_date_of
from tests.customers.support import people
from tests.e2e.fleet import (
    Fleet,
    FleetPartner,
    add_operations_staff,
    alive,
    onboard,
    staff_headers,
    wait_for,
)

SEEDS = (1, 2, 3)
PARTNERS = 3
TRANSACTIONS = 120_000  # a run of several seconds here: long enough to be killed, past a lease
LEASE = 3  # seconds: how long a killed worker's job waits, and shorter than the run
RUN_JOB = "settlement.run"


def _trial_balance(http: httpx.Client, money: dict[str, str]) -> dict[str, int]:
    balances = http.get("/admin/v1/ledger/trial-balance", headers=money).json()
    assert balances["total"] == 0, balances
    return {row["account"]: row["balance"] for row in balances["accounts"]}


@pytest.mark.parametrize("seed", SEEDS)
def test_settlement_run_killed_again_and_again_settles_each_transaction_once(
    fleet: Fleet, seed: int
) -> None:
    rng = random.Random(seed)
    fleet.env["GATEWAY_JOB_LEASE_SECONDS"] = str(LEASE)
    add_operations_staff(fleet)
    fleet.start_server("a")
    fleet.wait_ready("a")
    with httpx.Client(base_url=fleet.urls["a"], timeout=30) as a:
        partners = [
            onboard(fleet, a, "crash-maker", "crash-checker", webhook_url=None).partner_id
            for _ in range(PARTNERS)
        ]
        at = datetime.now(UTC) - timedelta(minutes=1)
        day = business_date_of(at)
        fleet.on_database(
            lambda conn: copy_transactions(conn, rng, partners, TRANSACTIONS, day=day, at=at)
        )
        money = staff_headers(a, "crash-money")

        def run_settlement() -> str:
            resp = a.post(
                "/admin/v1/settlements/run", json={"business_date": day.isoformat()}, headers=money
            )
            assert resp.status_code == 202, resp.text
            run_id: str = resp.json()["id"]
            return run_id

        run_id = run_settlement()

        def run() -> dict[str, Any]:
            found: dict[str, Any] = a.get(
                f"/admin/v1/settlements/runs/{run_id}", headers=money
            ).json()
            return found

        def attempts() -> int:
            return int(
                fleet.fetchval(
                    "SELECT attempts FROM jobs WHERE kind = $1 AND payload->>'run_id' = $2",
                    RUN_JOB,
                    run_id,
                )
            )

        def unpaid() -> int:
            return int(
                fleet.fetchval("SELECT count(*) FROM settlements WHERE payout_status <> 'paid'")
            )

        mid_run = 0
        for round_ in range(3):
            name = f"w{round_}"
            before = attempts()
            fleet.start_worker(name)
            wait_for(
                lambda before=before, name=name: (
                    alive(fleet, name) and (attempts() > before or run()["status"] != "running")
                ),
                f"{name} to take the run",
                60,
            )
            time.sleep(rng.uniform(0, 2.5))  # in the run, between payouts, or after them
            running = run()["status"] == "running"
            if not running and not unpaid():
                break
            fleet.kill(name)
            mid_run += running
        assert mid_run, "every kill came after the run; raise TRANSACTIONS"

        for name in ("f1", "f2"):  # two workers at once, as in production
            fleet.start_worker(name)
        done = wait_for(
            lambda: (r := run())["status"] == "completed" and not unpaid() and r, "the run", 180
        )
        assert done["settlements"] == PARTNERS

        # Every transaction in exactly one settlement, one settlement per partner.
        assert fleet.fetchval("SELECT count(*) FROM transactions WHERE settlement_id IS NULL") == 0
        per_partner = fleet.fetch(
            "SELECT s.partner_id, count(DISTINCT s.id) AS settlements, "
            "count(t.id) AS taken, min(s.count) AS count "
            "FROM settlements s LEFT JOIN transactions t ON t.settlement_id = s.id "
            "GROUP BY s.partner_id"
        )
        each = TRANSACTIONS // PARTNERS
        assert sorted(tuple(r) for r in per_partner) == sorted((p, 1, each, each) for p in partners)
        # Each settlement paid once: one core credit and one payout journal of its amount.
        paid = fleet.fetch(
            "SELECT s.id, s.payout, s.payout_status, "
            "(SELECT array_agg(m.amount) FROM sandbox_movements m "
            " WHERE m.reference LIKE 'payout:' || s.id || ':%') AS credits, "
            "(SELECT count(*) FROM ledger_journals j "
            " WHERE j.reference = 'payout:' || s.id) AS journals "
            "FROM settlements s"
        )
        for row in paid:
            assert (row["payout_status"], row["credits"], row["journals"]) == (
                "paid",
                [row["payout"]],
                1,
            ), dict(row)
        by_account = _trial_balance(a, money)
        for partner_id in partners:  # owed, less fees, paid out: nothing left either way
            assert by_account.get(f"partner_payable:{partner_id}:community", 0) == 0
        assert fleet.fetchval("SELECT count(*) FROM jobs WHERE status = 'dead'") == 0
        for name in ("f1", "f2"):  # neither took the run from the other
            assert "job.lease_lost" not in (fleet.logs / f"{name}.log").read_text()

        # A second run finds nothing new.
        run_id = run_settlement()
        again = wait_for(lambda: (r := run())["status"] == "completed" and r, "the re-run", 60)
        assert again["settlements"] == 0
        assert fleet.fetchval("SELECT count(*) FROM settlements") == PARTNERS


HOLDERS = 80
VICTIMS = ("a1", "a2")  # servers killed mid-wind-down, one after the other
FUNDS = 5_000_00
STORED_VALUE = "/v1/scenarios/stored-value"


def _call(
    partner: FleetPartner, http: httpx.Client, method: str, path: str, payload: Any = None
) -> dict[str, Any]:
    body, headers = partner.request(method, path, payload)
    resp = http.request(method, path, content=body, headers=headers)
    assert resp.status_code in (200, 201, 202), resp.text
    out: dict[str, Any] = resp.json()
    return out


def _holders(fleet: Fleet, partner: FleetPartner, http: httpx.Client, seed: int) -> dict[str, int]:
    """Open the holders through a batch, fund them at the core, and sell each a card: each
    holder's card balance."""
    batch = _call(
        partner,
        http,
        "POST",
        "/v1/account-batches",
        {"scenario": "stored_value", "items": people(seed, HOLDERS)},
    )
    wait_for(
        lambda: (
            _call(partner, http, "GET", f"/v1/account-batches/{batch['id']}")["status"]
            == "completed"
        ),
        "the holders' accounts",
        120,
    )
    customers = [
        row["customer_id"]
        for row in _call(
            partner, http, "GET", f"/v1/account-batches/{batch['id']}/items?limit=500"
        )["data"]
    ]
    assert len(customers) == HOLDERS
    accounts = dict(
        fleet.fetch(
            "SELECT customer_ref, account_no FROM sandbox_accounts WHERE customer_ref = ANY($1)",
            customers,
        )
    )
    core = httpx.Client(base_url=fleet.urls["core"], timeout=30)
    rng = random.Random(seed)
    amounts = [rng.randrange(1_00, 4_000_00) for _ in customers]

    def sell(customer: str, amount: int) -> tuple[str, int]:
        funded = core.post(
            f"/sandbox/accounts/{accounts[customer]}/deposits",
            json={"reference": f"fund-{customer}", "amount": FUNDS},
        )
        assert funded.status_code == 200, funded.text
        card = _call(
            partner,
            http,
            "POST",
            f"{STORED_VALUE}/cards",
            {"customer_id": customer, "named": True, "product": {"type": "stored_value"}},
        )
        _call(
            partner, http, "POST", f"{STORED_VALUE}/cards/{card['id']}/top-ups", {"amount": amount}
        )
        return customer, amount

    with core, ThreadPoolExecutor(6) as pool:
        return dict(pool.map(sell, customers, amounts))


@pytest.mark.parametrize("seed", SEEDS)
def test_wind_down_killed_mid_refunds_pays_each_holder_back_once(fleet: Fleet, seed: int) -> None:
    rng = random.Random(seed)
    add_operations_staff(fleet)
    fleet.start_core("core")
    fleet.wait_ready("core", probe="/health")
    for name in (*VICTIMS, "b"):
        fleet.start_server(name)
    fleet.start_worker("w")
    fleet.wait_ready(*VICTIMS, "b")
    with httpx.Client(base_url=fleet.urls["b"], timeout=60) as b:
        partner = onboard(
            fleet,
            b,
            "crash-maker",
            "crash-checker",
            webhook_url=None,
            scenarios=["stored_value"],
            scenario_profile={"stored_value": {"industry": "fitness", "issuer_class": "scale"}},
        )
        partner.fetch_token(b)
        balances = _holders(fleet, partner, b, seed)
        outstanding = sum(balances.values())
        path = f"/admin/v1/partners/{partner.partner_id}/wind-down"

        def paid_back() -> int:
            return int(
                fleet.fetchval(
                    "SELECT count(*) FROM sandbox_movements WHERE reference LIKE 'svwd:%'"
                )
            )

        def wind_down(url: str) -> httpx.Response | None:
            try:
                with httpx.Client(base_url=url, timeout=120) as http:
                    return http.post(path, headers=staff_headers(http, "crash-checker"))
            except httpx.HTTPError:
                return None  # the connection died with the server

        forgotten = 0
        with ThreadPoolExecutor(1) as pool:
            for victim in VICTIMS:
                # Killed once the core has paid a seeded number of holders more than before
                # (the retry first meets the ones already paid): always mid-refunds, however
                # fast the machine.
                before = paid_back()
                target = before + rng.randint(1, (HOLDERS - before) // 2)
                attempt = pool.submit(wind_down, fleet.urls[victim])
                wait_for(
                    lambda target=target, attempt=attempt: paid_back() >= target or attempt.done(),
                    f"the core to pay {target} holders back",
                    60,
                    every=0.02,
                )
                if attempt.done():
                    break
                fleet.kill(victim)
                assert attempt.result() is None
                # The core paid these holders; the gateway's transaction died with the server.
                forgotten = max(forgotten, paid_back())
                assert not fleet.fetchval(
                    "SELECT count(*) FROM stored_value_movements WHERE kind = 'wind_down_refund'"
                )
        assert 0 < forgotten < HOLDERS, "no kill landed mid-refunds; raise HOLDERS"

        done = wind_down(fleet.urls["b"])  # the survivor finishes it
        assert done is not None and done.status_code == 200, done and done.text
        report = done.json()
        expected = {
            "escrow_before": outstanding,
            "outstanding_before": outstanding,
            "refunded": outstanding,
            "shortfall": 0,
            "cards_refunded": HOLDERS,
        }
        assert {k: report[k] for k in expected} == expected
        again = wind_down(fleet.urls["b"])
        assert again is not None and again.json() == report

        # Each holder paid back once at the core: one movement each, and the account as funded.
        payments = fleet.fetch(
            "SELECT a.customer_ref, m.amount FROM sandbox_movements m "
            "JOIN sandbox_accounts a ON a.account_no = m.to_account "
            "WHERE m.reference LIKE 'svwd:%'"
        )
        assert sorted((r["customer_ref"], r["amount"]) for r in payments) == sorted(
            balances.items()
        )
        accounts = fleet.fetch(
            "SELECT customer_ref, balance FROM sandbox_accounts WHERE customer_ref = ANY($1)",
            list(balances),
        )
        assert {r["customer_ref"]: r["balance"] for r in accounts} == dict.fromkeys(balances, FUNDS)
        # ...and once in the gateway's books: one refund transaction and movement per card.
        booked = fleet.fetch(
            "SELECT c.customer_id, t.amount FROM stored_value_movements m "
            "JOIN stored_value_cards c ON c.id = m.card_id "
            "JOIN transactions t ON t.id = m.txn_id WHERE m.kind = 'wind_down_refund'"
        )
        assert sorted((r["customer_id"], r["amount"]) for r in booked) == sorted(balances.items())
        escrow = _call(partner, b, "GET", f"{STORED_VALUE}/escrow")
        assert (escrow["escrow_balance"], escrow["outstanding_balance"]) == (0, 0)
        by_account = _trial_balance(b, staff_headers(b, "crash-money"))
        assert by_account.get(f"merchant_escrow:{partner.partner_id}", 0) == 0
