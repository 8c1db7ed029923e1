"""Each default rule (DESIGN §8) fires at its edge and stays quiet just below it."""

from __future__ import annotations

from typing import Any

from tests.risk.support import NIGHT, NOON, ago, fired, openings, score


async def test_shared_identity_fires_on_the_third_id_behind_one_phone(sessions: Any) -> None:
    rows = [
        {"sub_channel": "cmt_a", "phone_index": "phone-1", "id_index": f"id-{n}"} for n in range(3)
    ]
    _first, second, third = await openings(sessions, rows)
    assert "shared_identity" not in fired(second)
    assert second.outcome.value == "allow"
    assert fired(third) == {"shared_identity"}
    assert third.outcome.value == "review"
    [hit] = third.hits
    assert hit.values == {"device_ids_30d": 0, "phone_ids_30d": 3}
    assert (hit.subject_type, hit.subject_id) == ("sub_channel", "cmt_a")


async def test_shared_identity_counts_devices_and_only_within_30_days(sessions: Any) -> None:
    await score(
        sessions,
        "account_opening",
        phone_index="p-old",
        id_index="id-old",
        context={"device_id": "dev-1"},
        occurred_at=ago(NOON, days=31),
    )
    rows = [
        {"phone_index": f"p-{n}", "id_index": f"id-{n}", "context": {"device_id": "dev-1"}}
        for n in range(2)
    ]
    verdicts = await openings(sessions, [r | {"occurred_at": NOON} for r in rows])
    assert all("shared_identity" not in fired(v) for v in verdicts)  # the old one is outside
    [third] = await openings(
        sessions,
        [
            {"phone_index": "p-9", "id_index": "id-9", "context": {"device_id": "dev-1"}}
            | {"occurred_at": NOON}
        ],
    )
    assert fired(third) == {"shared_identity"}


async def _history(sessions: Any, sub_channel: str, days: int, per_hour: int) -> None:
    """``per_hour`` openings in one hour of each of the last ``days`` days."""
    rows = [
        {
            "sub_channel": sub_channel,
            "phone_index": f"{sub_channel}-{d}-{n}",
            "id_index": f"{sub_channel}-{d}-{n}",
            "occurred_at": ago(NOON, days=d, minutes=30 + n),
        }
        for d in range(days, 0, -1)
        for n in range(per_hour)
    ]
    await openings(sessions, rows)


def _spike(sub_channel: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "sub_channel": sub_channel,
            "phone_index": f"{sub_channel}-now-{n}",
            "id_index": f"{sub_channel}-now-{n}",
            "occurred_at": ago(NOON, minutes=30 - n),
        }
        for n in range(count)
    ]


async def test_opening_spike_above_five_times_the_trailing_median(sessions: Any) -> None:
    await _history(sessions, "cmt_s", days=8, per_hour=2)  # median 2 an hour
    verdicts = await openings(sessions, _spike("cmt_s", 11))
    assert ["opening_spike" in fired(v) for v in verdicts] == [False] * 10 + [True]
    assert verdicts[10].hits[0].values["sub_channel_openings_1h"] == 11
    assert verdicts[10].hits[0].values["sub_channel_hourly_median_7d"] == 2.0


async def test_opening_spike_silent_for_a_sub_channel_younger_than_7_days(sessions: Any) -> None:
    await _history(sessions, "cmt_new", days=6, per_hour=1)
    verdicts = await openings(sessions, _spike("cmt_new", 30))
    assert all("opening_spike" not in fired(v) for v in verdicts)


async def test_round_amount_cashout_needs_a_round_share_of_60_percent(sessions: Any) -> None:
    merchant = {"merchant": "stn_1", "scenario": "fuel", "kind": "payment"}
    await score(sessions, "transaction", amount=100_000, occurred_at=ago(NOON, hours=2), **merchant)
    ok = await score(
        sessions, "transaction", amount=66_667, occurred_at=ago(NOON, hours=1), **merchant
    )
    assert fired(ok) == set()
    # round 200,000 of 266,667 (75 %) after this one: fires
    hit = await score(sessions, "transaction", amount=100_000, occurred_at=NOON, **merchant)
    assert fired(hit) == {"round_amount_cashout"}
    assert hit.hits[0].values == {
        "merchant_round_share_24h": 0.75,
        "round_amount": True,
        "event.kind": "payment",
    }
    not_round = await score(sessions, "transaction", amount=99_900, occurred_at=NOON, **merchant)
    assert "round_amount_cashout" not in fired(not_round)


async def test_round_amount_cashout_quiet_below_the_share(sessions: Any) -> None:
    merchant = {"merchant": "stn_2", "kind": "payment"}
    await score(sessions, "transaction", amount=70_000, occurred_at=ago(NOON, hours=1), **merchant)
    # 100,000 of 170,000 is 58.8 %: below 60 %
    quiet = await score(sessions, "transaction", amount=100_000, occurred_at=NOON, **merchant)
    assert fired(quiet) == set()


async def test_fuel_impossible_volume_litres_over_the_tank(sessions: Any) -> None:
    fuel = {"scenario": "fuel", "kind": "payment", "station_id": "stn_f", "tank_capacity_l": 60}
    full = await score(
        sessions, "transaction", amount=40_000, litres_ml=60_000, plate_no="京A00001", **fuel
    )
    assert fired(full) == set()
    over = await score(
        sessions, "transaction", amount=40_000, litres_ml=60_001, plate_no="京A00002", **fuel
    )
    assert fired(over) == {"fuel_impossible_volume"}
    assert over.hits[0].subject_id == "stn_f"


async def test_fuel_impossible_volume_fourth_fueling_of_a_plate_in_a_day(sessions: Any) -> None:
    fuel = {"scenario": "fuel", "kind": "payment", "station_id": "stn_g", "plate_no": "沪B12345"}
    verdicts = [
        await score(
            sessions,
            "transaction",
            amount=20_000,
            litres_ml=20_000,
            occurred_at=ago(NOON, hours=4 - n),
            **fuel,
        )
        for n in range(4)
    ]
    assert ["fuel_impossible_volume" in fired(v) for v in verdicts] == [False, False, False, True]


async def test_refund_cycling_on_the_third_refund_in_24h(sessions: Any) -> None:
    pair = {"customer_id": "cus_r", "merchant": "mch_r"}
    verdicts = []
    for n in range(3):
        at = ago(NOON, hours=6 - n)
        await score(sessions, "transaction", kind="payment", amount=50_000, occurred_at=at, **pair)
        verdicts.append(
            await score(
                sessions, "transaction", kind="refund", amount=50_000, occurred_at=at, **pair
            )
        )
    assert ["refund_cycling" in fired(v) for v in verdicts] == [False, False, True]
    assert verdicts[2].hits[0].subject_type == "customer"
    other = await score(
        sessions, "transaction", kind="refund", amount=1_000, customer_id="cus_r", merchant="mch_x"
    )
    assert "refund_cycling" not in fired(other)


async def test_escrow_drain_above_five_times_the_30_day_daily_mean(sessions: Any) -> None:
    merchant = {"merchant": "ptn_sv", "scenario": "stored_value", "kind": "release"}
    for day in range(40, 0, -4):  # 30,000 every 4th day for 40 days: 7 of them in the 30 days
        await score(sessions, "release", amount=30_000, occurred_at=ago(NOON, days=day), **merchant)
    edge = await score(sessions, "release", amount=35_000, occurred_at=NOON, **merchant)
    assert fired(edge) == set()  # exactly 5x the mean of 7,000 a day: not above
    drain = await score(sessions, "release", amount=1, occurred_at=NOON, **merchant)
    assert fired(drain) == {"escrow_drain"}
    assert drain.hits[0].values["merchant_amount_today"] == 35_001
    assert drain.hits[0].values["merchant_daily_mean_30d"] == 7_000.0


async def test_escrow_drain_of_a_merchant_younger_than_30_days_uses_its_own_days(
    sessions: Any,
) -> None:
    merchant = {"merchant": "ptn_new", "scenario": "stored_value", "kind": "release"}
    for day in range(10, 0, -1):  # 10 days of 30,000 a day: a mean of 30,000, not 10,000
        await score(sessions, "release", amount=30_000, occurred_at=ago(NOON, days=day), **merchant)
    usual = await score(sessions, "release", amount=60_000, occurred_at=NOON, **merchant)
    assert fired(usual) == set()  # twice its usual day, which a 30-day divisor calls 6x
    drain = await score(sessions, "release", amount=100_000, occurred_at=NOON, **merchant)
    assert fired(drain) == {"escrow_drain"}
    assert drain.hits[0].values["merchant_daily_mean_30d"] == 30_000.0


async def test_escrow_drain_silent_in_the_first_7_days(sessions: Any) -> None:
    merchant = {"merchant": "ptn_young", "kind": "release"}
    await score(sessions, "release", amount=1_000, occurred_at=ago(NOON, days=6), **merchant)
    burst = await score(sessions, "release", amount=1_000_000, occurred_at=NOON, **merchant)
    assert fired(burst) == set()


async def test_night_burst_on_the_tenth_night_payment(sessions: Any) -> None:
    merchant = {"merchant": "mch_n", "kind": "payment"}
    verdicts = [
        await score(
            sessions,
            "transaction",
            amount=3_000,
            occurred_at=ago(NIGHT, minutes=20 - n),
            **merchant,
        )
        for n in range(10)
    ]
    assert ["night_burst" in fired(v) for v in verdicts] == [False] * 9 + [True]
    day = {"merchant": "mch_d", "kind": "payment"}
    daytime = [
        await score(sessions, "transaction", amount=3_000, occurred_at=ago(NOON, minutes=n), **day)
        for n in range(12)
    ]
    assert all("night_burst" not in fired(v) for v in daytime)


async def test_incentive_farming_when_most_customers_did_one_small_payment(sessions: Any) -> None:
    for n in range(9):  # one payment just over ¥100, 10 days ago, then nothing
        await score(
            sessions,
            "transaction",
            kind="payment",
            amount=10_500,
            sub_channel="cmt_farm",
            customer_id=f"cus_f{n}",
            occurred_at=ago(NOON, days=10),
        )
    quiet = await score(
        sessions,
        "transaction",
        kind="payment",
        amount=5_000,
        sub_channel="cmt_farm",
        customer_id="cus_real",
        occurred_at=ago(NOON, hours=1),
    )
    assert "incentive_farming" in fired(quiet)  # 10 customers, 9 one-and-done: share 0.9
    assert quiet.hits[0].values == {
        "sub_channel_customers_30d": 10,
        "sub_channel_one_and_done_share": 0.9,
    }
    healthy = []
    for n in range(9):
        healthy.append(
            await score(
                sessions,
                "transaction",
                kind="payment",
                amount=10_500,
                sub_channel="cmt_ok",
                customer_id=f"cus_h{n}",
                occurred_at=ago(NOON, days=10),
            )
        )
    for n in range(5):  # five of them came back: 4 of 10 one-and-done
        healthy.append(
            await score(
                sessions,
                "transaction",
                kind="payment",
                amount=8_000,
                sub_channel="cmt_ok",
                customer_id=f"cus_h{n}",
                occurred_at=ago(NOON, days=2),
            )
        )
    last = await score(
        sessions,
        "transaction",
        kind="payment",
        amount=5_000,
        sub_channel="cmt_ok",
        customer_id="cus_new",
        occurred_at=NOON,
    )
    assert all("incentive_farming" not in fired(v) for v in [*healthy, last])
