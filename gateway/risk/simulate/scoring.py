"""Drive a scenario through the real risk engine and measure what the rules caught (ADR 0016).

Every step goes through the inline entry points production uses: an opening row through
:func:`gateway.risk.openings.opening_event` and
:func:`gateway.risk.engine.assess_opening_events` (a batch's rows in one call, as
``process_chunk`` does), a payment or release through :func:`gateway.risk.assess`. So the
features are computed by the engine's own SQL over the event log and the published rule set
decides; hits open cases as they would live. The scenario's history (before its window) is
written to the event log as :func:`~gateway.risk.engine.event_row` logs it, without features or
a decision.

A **subject is flagged** when a published rule's hit names it (the ``(type, id)`` its case is
opened on). A planted subject is **detected** when it is flagged by any rule. Precision counts
flagged subjects: overall, the share of all flagged subjects that carry some pattern; per pattern,
the share of the subjects flagged by that pattern's rules that carry that pattern.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.pii import PiiVault
from gateway.risk import channel_customers, merchant_hours, ruleset
from gateway.risk.engine import Verdict, assess, assess_opening_events, event_row
from gateway.risk.models import RuleStatus
from gateway.risk.openings import opening_event
from gateway.risk.rules import DEFAULT_RULES
from gateway.risk.simulate.population import PATTERN_RULES, Event, Opening, Scenario, Step, Subject

COMMIT_EVERY = 250  # steps per unit of work: the engine flushes, the simulation commits


@dataclass
class Flags:
    """What the published rules flagged: subject → rules, and hits per rule."""

    subjects: dict[Subject, set[str]] = field(default_factory=lambda: defaultdict(set))
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, verdict: Verdict) -> None:
        for hit in verdict.hits:
            if hit.mode == RuleStatus.PUBLISHED:
                self.subjects[(hit.subject_type, hit.subject_id)].add(hit.rule)
                self.hits[hit.rule] += 1

    def by_rule(self, rule: str) -> set[Subject]:
        return {s for s, rules in self.subjects.items() if rule in rules}


def _units(steps: Sequence[Step]) -> Iterator[list[Step]]:
    """Consecutive rows of one batch together (one chunk), every other step alone."""
    unit: list[Step] = []
    for step in steps:
        batch = step.channel.batch_id if isinstance(step, Opening) else None
        if unit and (batch is None or _batch_of(unit[-1]) != batch):
            yield unit
            unit = []
        unit.append(step)
    if unit:
        yield unit


def _batch_of(step: Step) -> str | None:
    return step.channel.batch_id if isinstance(step, Opening) else None


async def _assess(session: AsyncSession, vault: PiiVault, unit: list[Step]) -> list[Verdict]:
    first = unit[0]
    if isinstance(first, Event):
        return [await assess(session, first.event_type, first.assessed())]
    rows = [
        opening_event(vault, s.channel, s.applicant) | {"occurred_at": s.at}
        for s in unit
        if isinstance(s, Opening)
    ]
    return await assess_opening_events(session, rows)


async def run(
    sessions: async_sessionmaker[AsyncSession], vault: PiiVault, scenario: Scenario
) -> Flags:
    """Score every step of ``scenario`` in time order; what the published rules flagged."""
    flags = Flags()
    async with sessions() as session:
        await ruleset.ensure_defaults(session)
        history = [event_row(e.event_type, e.assessed()) for e in scenario.history]
        session.add_all(history)
        await merchant_hours.forget(session, (e.merchant for e in history))
        await channel_customers.forget(session, (e.sub_channel for e in history))
        await session.commit()
    units = list(_units(scenario.steps))
    for start in range(0, len(units), COMMIT_EVERY):
        async with sessions() as session:
            for unit in units[start : start + COMMIT_EVERY]:
                for verdict in await _assess(session, vault, unit):
                    flags.add(verdict)
            await session.commit()
    return flags


@dataclass(frozen=True, slots=True)
class PatternScore:
    pattern: str
    rules: tuple[str, ...]
    planted: int
    detected: int
    flagged: int  # subjects the pattern's rules flagged
    correct: int  # of those, subjects carrying this pattern

    @property
    def recall(self) -> float:
        return self.detected / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float | None:
        return self.correct / self.flagged if self.flagged else None


@dataclass(frozen=True, slots=True)
class RuleScore:
    rule: str
    hits: int  # events it hit
    on_pattern: int  # subjects of its own pattern it flagged
    on_other_pattern: int  # planted subjects of another pattern it flagged
    false: int  # normal subjects it flagged


@dataclass(frozen=True)
class Report:
    events: int
    patterns: tuple[PatternScore, ...]
    rules: tuple[RuleScore, ...]
    planted: int
    detected: int
    flagged: int
    correct: int
    false_positives: tuple[tuple[Subject, tuple[str, ...]], ...]

    @property
    def recall(self) -> float:
        return self.detected / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.flagged if self.flagged else 1.0

    def pattern(self, name: str) -> PatternScore:
        return next(p for p in self.patterns if p.pattern == name)

    def rule(self, rule_id: str) -> RuleScore:
        return next(r for r in self.rules if r.rule == rule_id)

    def render(self) -> str:
        def pct(value: float | None) -> str:
            return "   n/a" if value is None else f"{value:6.1%}"

        lines = [
            f"{'pattern':<22} {'planted':>7} {'detected':>8} {'recall':>7} "
            f"{'flagged':>7} {'precision':>9}  rules",
        ]
        for p in self.patterns:
            lines.append(
                f"{p.pattern:<22} {p.planted:>7} {p.detected:>8} {pct(p.recall):>7} "
                f"{p.flagged:>7} {pct(p.precision):>9}  {', '.join(p.rules)}"
            )
        lines.append(
            f"{'overall':<22} {self.planted:>7} {self.detected:>8} {pct(self.recall):>7} "
            f"{self.flagged:>7} {pct(self.precision):>9}  (all published rules)"
        )
        lines += ["", f"{'rule':<24} {'hits':>6} {'own pattern':>11} {'other':>6} {'normal':>6}"]
        lines += [
            f"{r.rule:<24} {r.hits:>6} {r.on_pattern:>11} {r.on_other_pattern:>6} {r.false:>6}"
            for r in self.rules
        ]
        if self.false_positives:
            lines += ["", "normal subjects flagged:"]
            lines += [f"  {t}:{i}  {', '.join(rules)}" for (t, i), rules in self.false_positives]
        return "\n".join(lines)


def report(scenario: Scenario, flags: Flags) -> Report:
    planted = scenario.planted()
    pattern_of_rule = {r: p for p, rules in PATTERN_RULES.items() for r in rules}
    patterns = []
    for pattern, rules in PATTERN_RULES.items():
        truth = set(scenario.truth[pattern])
        by_rules = set().union(*(flags.by_rule(r) for r in rules))
        patterns.append(
            PatternScore(
                pattern,
                rules,
                planted=len(truth),
                detected=len(truth & flags.subjects.keys()),
                flagged=len(by_rules),
                correct=len(by_rules & truth),
            )
        )
    scores = []
    for rule in (str(r["id"]) for r in DEFAULT_RULES):
        subjects = flags.by_rule(rule)
        own = set(scenario.truth.get(pattern_of_rule.get(rule, ""), []))
        scores.append(
            RuleScore(
                rule,
                hits=flags.hits.get(rule, 0),
                on_pattern=len(subjects & own),
                on_other_pattern=len((subjects & planted.keys()) - own),
                false=len(subjects - planted.keys()),
            )
        )
    false = sorted((s, tuple(sorted(r))) for s, r in flags.subjects.items() if s not in planted)
    return Report(
        events=len(scenario.steps),
        patterns=tuple(patterns),
        rules=tuple(scores),
        planted=len(planted),
        detected=len(planted.keys() & flags.subjects.keys()),
        flagged=len(flags.subjects),
        correct=len(flags.subjects.keys() & planted.keys()),
        false_positives=tuple(false),
    )
