"""The supervision arithmetic, property-based: whatever the sequence of top-ups, releases and
refunds, the escrow never falls below the required reserve; pro rata shares and lesson values
add up exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.scenarios.stored_value import rules
from gateway.scenarios.stored_value.models import NAMED_CAP

Op = tuple[str, int, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(["top_up", "release", "refund"]),
        st.integers(min_value=0, max_value=4),
        st.integers(min_value=1, max_value=NAMED_CAP),
    ),
    max_size=60,
)


@given(
    industry=st.sampled_from(["education", "fitness", "beauty", "retail", "other"]),
    issuer_class=st.sampled_from(["scale", "group", "brand"]),
    sequence=ops,
)
def test_escrow_never_falls_below_the_reserve(
    industry: str, issuer_class: str, sequence: list[Op]
) -> None:
    bp = rules.reserve_bp(industry, issuer_class)
    cards = [0] * 5
    escrow = 0
    for kind, n, amount in sequence:
        outstanding = sum(cards)
        if kind == "top_up" and cards[n] + amount <= NAMED_CAP:
            cards[n] += amount
            escrow += amount
        elif kind == "release" and amount <= cards[n]:
            free = rules.releasable(escrow, outstanding, bp)
            if industry == rules.EDUCATION or amount <= free:
                cards[n] -= amount
                escrow -= amount
        elif kind == "refund" and amount <= cards[n]:
            cards[n] -= amount
            escrow -= amount
        assert escrow >= rules.required_reserve(sum(cards), bp)
        assert escrow == sum(cards) >= 0
        assert 0 <= rules.releasable(escrow, sum(cards), bp) <= escrow


@given(
    bp=st.sampled_from([2_000, 3_000, 4_000]),
    outstanding=st.integers(min_value=0, max_value=10**9),
)
def test_a_release_of_what_is_releasable_leaves_exactly_the_reserve(
    bp: int, outstanding: int
) -> None:
    free = rules.releasable(outstanding, outstanding, bp)
    assert outstanding - free == rules.required_reserve(outstanding, bp)
    assert outstanding - free >= rules.required_reserve(outstanding - free, bp)


@given(
    balances=st.lists(st.integers(min_value=1, max_value=NAMED_CAP), min_size=1, max_size=30),
    data=st.data(),
)
def test_pro_rata_shares_add_up_and_never_exceed_a_balance(
    balances: list[int], data: st.DataObject
) -> None:
    available = data.draw(st.integers(min_value=0, max_value=2 * sum(balances)))
    shares = rules.pro_rata(balances, available)
    assert sum(shares) == min(available, sum(balances))
    assert all(0 <= s <= b for s, b in zip(shares, balances, strict=True))


@given(
    balance=st.integers(min_value=0, max_value=NAMED_CAP),
    lessons=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_consuming_a_package_lesson_by_lesson_releases_exactly_its_balance(
    balance: int, lessons: int, data: st.DataObject
) -> None:
    left, remaining, released = balance, lessons, 0
    while remaining:
        n = data.draw(st.integers(min_value=1, max_value=remaining))
        value = rules.lesson_value(left, remaining, n)
        assert 0 <= value <= left
        left, remaining, released = left - value, remaining - n, released + value
    assert (left, released) == (0, balance)


def test_refunds_keep_a_lesson_for_any_money_left() -> None:
    assert rules.lessons_left_after_refund(1_000_00, 10, 250_00) == 8
    assert rules.lessons_left_after_refund(1_000_00, 10, 999_99) == 1
    assert rules.lessons_left_after_refund(1_000_00, 10, 1_000_00) == 0


def test_risk_features_flag_escrow_drain_inputs() -> None:
    from gateway.scenarios.base import adapter_for, load  # noqa: PLC0415

    load()
    adapter = adapter_for("stored_value")
    assert adapter is not None
    jump = adapter.risk_features(
        {"kind": "top_up", "amount": 60_000, "trailing_daily_mean": 10_000}
    )
    assert jump["stored_value_jump"] and not jump["stored_value_release_without_lessons"]
    quiet = adapter.risk_features({"kind": "top_up", "amount": 60_000, "trailing_daily_mean": 0})
    assert not quiet["stored_value_jump"]
    quick = adapter.risk_features({"kind": "release", "amount": 100, "seconds_since_top_up": 30})
    assert quick["stored_value_quick_release"] and quick["stored_value_release_without_lessons"]
    lesson = adapter.risk_features({"kind": "release", "amount": 100, "lessons": 2})
    assert not lesson["stored_value_release_without_lessons"]
