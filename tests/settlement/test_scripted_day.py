"""A scripted business day across the five scenarios, settled by one run (DESIGN §10).

Every payment, refund, top-up and release goes through the partners' signed API; the expected
settlements and statement summaries below were worked out by hand from the contract rules (fee
per transaction = amount owed × bps / 10 000, half-up away from zero; refunds carry a negative
fee; escrow top-ups and card loads are owed to nobody; money under an open case is held) and
are written as literal fen, so the run must reproduce them exactly on either engine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import respx
from litestar import Litestar

from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import PartnerHandle, onboard
from tests.risk.support import publish_rule
from tests.risk.test_integration import _rule
from tests.scenarios.campus.support import BASE as CAMPUS
from tests.scenarios.campus.support import freshmen, merchant, university
from tests.scenarios.fuel.support import BASE as FUEL
from tests.scenarios.fuel.support import (
    fuel_partner,
    fueling,
    mandate,
    open_drivers,
    per_litre_campaign,
    station,
)
from tests.scenarios.stored_value.support import card, consume, holders, refund, top_up
from tests.scenarios.stored_value.support import merchant as sv_merchant
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.test_community import BASE as COMMUNITY
from tests.scenarios.test_community import _bills, _community
from tests.scenarios.test_community_discount import _campaign
from tests.scenarios.utilities.support import BASE as UTILITIES
from tests.scenarios.utilities.support import BILLER, bill, echo_write_off, onboard_biller
from tests.settlement.test_settlement import today

FIGURES = ("count", "gross", "refunds", "fees", "subsidies", "escrow", "held", "net", "payout")
SUMMARY = ("amount", "fee", "subsidy", "held", "net")
UTILITY_BILLS = {"EL-0001": 123_45, "EL-0002": 66_67}


@pytest.fixture
def biller() -> Iterator[respx.MockRouter]:
    def answer(request: Any) -> Any:
        account_no = request.url.params["account_no"]
        return respx.MockResponse(200, json=bill(account_no, amount=UTILITY_BILLS[account_no]))

    with respx.mock(base_url=BILLER, assert_all_called=False) as router:
        router.get("/v1/bills").mock(side_effect=answer)
        router.post("/v1/write-offs").mock(side_effect=echo_write_off)
        yield router


async def _community_day(
    client: Any, app: Litestar, staff: StaffFactory
) -> tuple[PartnerHandle, str]:
    """Three property-fee bills; the 10 % campaign (cap ¥20 a bill) discounts them; the risk
    rule reviews the ¥888.88 one, so it is paid but held. Returns the held transaction."""
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 3, seed=1200, sub_channel=community_id)
    bills = [
        (await _bills(partner, community_id, [owner], amount, "2026-11", first_unit=n))[0]
        for n, (owner, amount) in enumerate(
            zip(owners, (300_00, 5_05, 888_88), strict=True), start=1
        )
    ]
    await _campaign(client, staff, partner.partner_id, budget=100_00)
    paid = []
    for bill_id, owner in zip(bills, owners, strict=True):
        await fund(client, staff, owner, 1_000_00)
        resp = await partner.call(
            "POST", f"{COMMUNITY}/payments", {"bill_id": bill_id, "customer_id": owner}
        )
        assert resp.status_code == 201, resp.text
        paid.append(resp.json()["id"])
    return partner, paid[2]


async def _fuel_day(client: Any, app: Litestar, staff: StaffFactory) -> PartnerHandle:
    """A 45 bps contract; two fuelings subsidised ¥0.50 a litre from a ¥30 budget, then half
    of the first refunded (its subsidy share returned)."""
    partner = await fuel_partner(client, staff)
    checker = await staff.token("checker-day", "ops_checker")
    changed = await client.put(
        f"/admin/v1/partners/{partner.partner_id}/contract",
        json={"fee_bps": {"fuel": 45}},
        headers=checker,
    )
    assert changed.status_code == 200, changed.text
    station_id = await station(partner)
    plates = ["京A12345", "沪B54321"]
    drivers = await open_drivers(partner, app, plates, 1300, station_id)
    for driver, plate in zip(drivers, plates, strict=True):
        await fund(client, staff, driver, 1_000_00)
        await mandate(partner, driver, plate)
    await per_litre_campaign(client, staff, partner.partner_id, budget=30_00)
    fuelings = []
    for plate, litres_ml in zip(plates, (40_000, 21_111), strict=True):
        resp = await partner.call(
            "POST", f"{FUEL}/transactions", fueling(station_id, plate, litres_ml)
        )
        assert resp.status_code == 201, resp.text
        fuelings.append(resp.json())
    assert [(f["amount"], f["subsidy"]) for f in fuelings] == [(300_00, 20_00), (158_33, 10_00)]
    refunded = await partner.call(
        "POST", f"{FUEL}/transactions/{fuelings[0]['id']}/refunds", {"amount": 150_00}
    )
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["subsidy_returned"] == 10_00
    return partner


async def _stored_value_day(client: Any, app: Litestar, staff: StaffFactory) -> PartnerHandle:
    """A gym's card: ¥3,456.78 topped up into escrow, ¥1,234.56 of it released to the gym,
    ¥100 refunded to the holder out of escrow (a round ¥4,000 would be reviewed by the default
    ``round_amount_cashout`` rule and held)."""
    partner = await sv_merchant(client, staff)
    [holder] = await holders(partner, app, client, staff, 1, seed=1400)
    card_id = await card(partner, holder)
    for resp in (
        await top_up(partner, card_id, 3_456_78),
        await consume(partner, card_id, amount=1_234_56),
        await refund(partner, card_id, 100_00, "other"),
    ):
        assert resp.status_code == 201, resp.text
    return partner


async def _campus_day(client: Any, app: Litestar, staff: StaffFactory) -> PartnerHandle:
    """A student loads ¥600 onto the campus card (card float, owed to nobody) and pays the
    canteen ¥12.50 and ¥8.33."""
    partner = await university(client, staff)
    student = (await freshmen(partner, app, seed=1500, students=1, staff=0))["S001"]
    canteen = await merchant(partner)
    await fund(client, staff, student["customer_id"], 1_000_00)
    loaded = await partner.call(
        "POST", f"{CAMPUS}/cards/{student['id']}/top-ups", {"amount": 600_00}
    )
    assert loaded.status_code == 201, loaded.text
    for amount in (12_50, 8_33):
        paid = await partner.call(
            "POST",
            f"{CAMPUS}/payments",
            {
                "card_id": student["id"],
                "merchant_id": canteen,
                "terminal_id": "POS-1",
                "amount": amount,
            },
        )
        assert paid.status_code == 201, paid.text
    return partner


async def _utilities_day(client: Any, app: Litestar, staff: StaffFactory) -> PartnerHandle:
    """Two electricity bills paid and written off by the biller: ¥123.45 and ¥66.67."""
    partner = await onboard_biller(client, staff)
    customers = await open_owners(partner, app, "utilities", 2, seed=1600)
    for customer, (account_no, amount) in zip(customers, UTILITY_BILLS.items(), strict=True):
        await fund(client, staff, customer, 1_000_00)
        paid = await partner.call(
            "POST",
            f"{UTILITIES}/payments",
            {
                "biller_id": partner.partner_id,
                "account_no": account_no,
                "bill_key": "2026-11-EL1",
                "amount": amount,
                "customer_id": customer,
            },
        )
        assert (paid.status_code, paid.json()["status"]) == (201, "succeeded"), paid.text
    return partner


async def _settled(partner: PartnerHandle) -> tuple[dict[str, Any], dict[str, int]]:
    """The partner's one settlement of the day and its statement's summary line."""
    listed = await partner.call("GET", f"/v1/settlements?business_date={today()}")
    assert listed.status_code == 200, listed.text
    [settlement] = listed.json()["data"]
    statement = await partner.call("GET", f"/v1/settlements/{settlement['id']}/statement")
    assert statement.status_code == 200, statement.text
    summary = list(csv.reader(io.StringIO(statement.text)))[-1]
    assert summary[:5] == ["summary", settlement["id"], today(), settlement["scenario"], "total"]
    return {k: settlement[k] for k in FIGURES}, dict(
        zip(SUMMARY, map(int, summary[5:]), strict=True)
    )


async def test_a_scripted_day_across_all_scenarios_settles_to_the_fen(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    await publish_rule(client, staff, _rule("day_review", "event.amount == 88888"), "day")
    community, held_txn = await _community_day(client, app, staff)
    fuel_partner_ = await _fuel_day(client, app, staff)
    gym = await _stored_value_day(client, app, staff)
    school = await _campus_day(client, app, staff)
    biller_partner = await _utilities_day(client, app, staff)

    finance = await staff.token("fin-day", "finance")
    run = await client.post(
        "/admin/v1/settlements/run", json={"business_date": today()}, headers=finance
    )
    assert run.status_code == 202, run.text
    await run_jobs(app)
    done = await client.get(f"/admin/v1/settlements/runs/{run.json()['id']}", headers=finance)
    assert (done.json()["status"], done.json()["settlements"]) == ("completed", 5)

    # Community, 30 bps: ¥300.00 (campaign ¥20.00, its cap) + ¥5.05 (campaign 10 % = 50.5 →
    # 51); fees 300_00 × 0.003 = 90 and 505 × 0.003 = 1.515 → 2. The ¥888.88 bill is held
    # (its case is open), so it is neither owed nor subsidised in this settlement.
    assert await _settled(community) == (
        {"count": 2, "gross": 305_05, "refunds": 0, "fees": 92, "subsidies": 20_51,
         "escrow": 0, "held": 888_88, "net": 304_13, "payout": 304_13},
        {"amount": 305_05, "fee": 92, "subsidy": 20_51, "held": 888_88, "net": 304_13},
    )  # fmt: skip
    # Fuel, 45 bps: ¥300.00 (subsidy 40 L × ¥0.50 = ¥20) + 21.111 L × ¥7.50 = 158.3325 →
    # ¥158.33 (subsidy what is left of ¥30: ¥10), then ¥150 refunded with ¥10 of subsidy back.
    # Fees 135 + 71.2485 → 71, and −(67.5 → 68) on the refund: 138.
    assert await _settled(fuel_partner_) == (
        {"count": 3, "gross": 458_33, "refunds": 150_00, "fees": 138, "subsidies": 20_00,
         "escrow": 0, "held": 0, "net": 306_95, "payout": 306_95},
        {"amount": 308_33, "fee": 138, "subsidy": 20_00, "held": 0, "net": 306_95},
    )  # fmt: skip
    # Stored value, 30 bps: only the release is owed (fee 370.368 → 370); escrow takes the
    # top-up and gives up the release and the refund: 3_456_78 − 1_234_56 − 100_00.
    assert await _settled(gym) == (
        {"count": 3, "gross": 1_234_56, "refunds": 0, "fees": 370, "subsidies": 0,
         "escrow": 2_122_22, "held": 0, "net": 1_230_86, "payout": 1_230_86},
        {"amount": 1_234_56, "fee": 370, "subsidy": 0, "held": 0, "net": 1_230_86},
    )  # fmt: skip
    # Campus, 30 bps: the card load is owed to nobody; fees 3.75 → 4 and 2.499 → 2.
    assert await _settled(school) == (
        {"count": 3, "gross": 20_83, "refunds": 0, "fees": 6, "subsidies": 0,
         "escrow": 0, "held": 0, "net": 20_77, "payout": 20_77},
        {"amount": 20_83, "fee": 6, "subsidy": 0, "held": 0, "net": 20_77},
    )  # fmt: skip
    # Utilities, 30 bps: fees 37.035 → 37 and 20.001 → 20.
    assert await _settled(biller_partner) == (
        {"count": 2, "gross": 190_12, "refunds": 0, "fees": 57, "subsidies": 0,
         "escrow": 0, "held": 0, "net": 189_55, "payout": 189_55},
        {"amount": 190_12, "fee": 57, "subsidy": 0, "held": 0, "net": 189_55},
    )  # fmt: skip

    balances = await assert_ledger_balanced(sessions)
    assert balances["fee_income"] == -(92 + 138 + 370 + 6 + 57)
    assert balances["core_clearing"] == -(304_13 + 306_95 + 1_230_86 + 20_77 + 189_55)
    assert balances[f"merchant_escrow:{gym.partner_id}"] == -2_122_22
    payables = {k: v for k, v in balances.items() if k.startswith("partner_payable:") and v}
    assert payables == {f"partner_payable:{community.partner_id}:community": -888_88}
    statement = await community.call(
        "GET", f"/v1/settlements/{(await _settled_id(community))}/statement"
    )
    [held_line] = [r for r in csv.reader(io.StringIO(statement.text)) if r[0] == held_txn]
    assert held_line[5:] == ["88888", "0", "2000", "88888", "0"]

    rerun = await client.post(
        "/admin/v1/settlements/run", json={"business_date": today()}, headers=finance
    )
    await run_jobs(app)
    again = await client.get(f"/admin/v1/settlements/runs/{rerun.json()['id']}", headers=finance)
    assert again.json()["settlements"] == 0
    assert await assert_ledger_balanced(sessions) == balances


async def _settled_id(partner: PartnerHandle) -> str:
    listed = await partner.call("GET", f"/v1/settlements?business_date={today()}")
    return str(listed.json()["data"][0]["id"])
