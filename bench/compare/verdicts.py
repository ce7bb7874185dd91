"""The values a regression check produces: verdicts, checks and comparisons.

`Verdict` is shared by both regression checks, `bench compare` and `bench ab`.

A verdict is made once, in bench.compare, and stays a value: the command line
prints it, the report colours a cell by it, the exit status is read from it.
Nothing turns it into text and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bench.results import Identity


class Verdict(StrEnum):
    """What one check, or one identity, came to; members are listed worst first."""

    FAILED = "failed"
    CHANGED = "changed"
    SLOWER = "slower"
    WORSE = "worse"
    FASTER = "faster"
    BETTER = "better"
    SAME = "same"
    # `bench ab` only: its budget ran out before the interval decided (its MDE says how far)
    INCONCLUSIVE = "inconclusive"
    NEW = "new"
    MISSING = "missing"
    NOT_COMPARED = "n/a"  # a check with nothing to compare (a null figure, other steps)

    @property
    def regression(self) -> bool:
        return self in REGRESSIONS


# an identity's verdict is the worst of its checks, in this order
VERDICTS: tuple[Verdict, ...] = tuple(v for v in Verdict if v is not Verdict.NOT_COMPARED)
REGRESSIONS = frozenset({Verdict.FAILED, Verdict.CHANGED, Verdict.SLOWER, Verdict.WORSE})
THROUGHPUT = "throughput"  # the name of the throughput check


def worst(verdicts: list[Verdict]) -> Verdict:
    """The worst of the verdicts (VERDICTS order); SAME when none counts."""
    ranked = [v for v in verdicts if v in VERDICTS]
    return min(ranked, key=VERDICTS.index) if ranked else Verdict.SAME


@dataclass(frozen=True)
class Check:
    """One figure of one identity, baseline against current, and what it means."""

    name: str  # THROUGHPUT, or a catalogue metric of kind work or quality
    verdict: Verdict  # faster/slower/better/worse/changed/same, or NOT_COMPARED
    baseline: float | None = None
    current: float | None = None
    change_pct: float | None = None  # (current - baseline) / baseline, percent
    threshold: float | None = None  # the move that counts: percent for throughput, else units
    note: str = ""  # why: the figure's reason, the metric's direction, what was not compared
    figure: str | None = None  # throughput: images_per_s or images_per_s_relative
    spread_baseline: float | None = None  # throughput: window IQR, in the figure's units
    spread_current: float | None = None
    detectable_pct: float | None = None  # throughput: smallest change the noise let it see


@dataclass(frozen=True)
class IdentityComparison:
    identity: Identity
    verdict: Verdict
    checks: tuple[Check, ...] = ()
    note: str = ""

    @property
    def regressed(self) -> bool:
        return self.verdict.regression

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def moved(self) -> list[Check]:
        """The checks that found a difference (not same, not n/a)."""
        return [c for c in self.checks if c.verdict not in (Verdict.SAME, Verdict.NOT_COMPARED)]


@dataclass(frozen=True)
class Comparison:
    identities: tuple[IdentityComparison, ...]

    @property
    def regressed(self) -> bool:
        return any(entry.regressed for entry in self.identities)

    def counts(self) -> dict[Verdict, int]:
        """Verdict -> identities, in VERDICTS order, zero counts left out."""
        found = [entry.verdict for entry in self.identities]
        return {verdict: found.count(verdict) for verdict in VERDICTS if verdict in found}

    def verdict_of(self, identity_text: str) -> Verdict:
        """The verdict of the identity whose str() starts with identity_text (tests, reports)."""
        for entry in self.identities:
            if str(entry.identity).startswith(identity_text):
                return entry.verdict
        raise KeyError(identity_text)

    def by_identity(self) -> dict[Identity, IdentityComparison]:
        return {entry.identity: entry for entry in self.identities}
