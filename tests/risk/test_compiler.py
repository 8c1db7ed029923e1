"""The rule compiler: flat names when possible, one program per set, one bad rule isolated."""

from __future__ import annotations

import pytest

from gateway.risk.rules import CompiledRule, CompiledSet, compile_rule, flatten


def _rule(rule_id: str, expression: str) -> CompiledRule:
    return compile_rule(
        rule_id=rule_id,
        version=1,
        mode="published",
        severity="review",
        weight=10,
        subject="customer",
        expression=expression,
    )


@pytest.mark.parametrize(
    ("expression", "flat"),
    [
        ("features.a > 1 && event.kind != 'refund'", "f__a > 1 && e__kind != 'refund'"),
        ("has(features.a)", None),
        ("features['a'] > 1", None),
        ("event.kind == 'features.a'", None),
        ("true", "true"),
    ],
)
def test_flatten_only_plain_member_reads(expression: str, flat: str | None) -> None:
    assert flatten(expression) == flat


def test_one_program_for_the_set_and_a_failing_rule_does_not_silence_the_rest() -> None:
    rules = (
        _rule("big", "features.amount >= 100"),
        _rule("broken", "features.amount > event.kind"),  # int > string: fails at runtime
        _rule("refund", "event.kind == 'refund'"),
    )
    compiled = CompiledSet(rules)
    assert compiled.flat
    assert compiled.evaluate({"kind": "refund"}, {"amount": 150}) == [True, False, True]
    nested = CompiledSet((_rule("has", "has(features.amount) && features.amount >= 100"),))
    assert not nested.flat
    assert nested.evaluate({}, {"amount": 150}) == [True]
    assert nested.evaluate({}, {}) == [False]
