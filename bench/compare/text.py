"""A comparison as text: the edge where verdicts become the command line's lines."""

from __future__ import annotations

from bench.compare.verdicts import THROUGHPUT, Check, Comparison, Verdict


def format_comparison(comparison: Comparison, baseline_name: str, current_name: str) -> str:
    """The verdicts as text: one line per identity, indented lines for what changed."""
    lines = [
        f"regression check: {current_name} against the baseline {baseline_name}",
        "throughput: median over timing windows; slower/faster only beyond the tolerance "
        "and the window IQR of both runs",
        "",
    ]
    width = max(len(str(entry.identity)) for entry in comparison.identities)
    for entry in comparison.identities:
        throughput = entry.check(THROUGHPUT)
        summary = entry.note
        if throughput is not None and throughput.verdict != Verdict.NOT_COMPARED:
            summary = (
                f"throughput {percent(throughput.change_pct)}: {throughput.figure} "
                f"({throughput.note}) {number(throughput.baseline)} -> "
                f"{number(throughput.current)}, window IQR {number(throughput.spread_baseline)} "
                f"| {number(throughput.spread_current)}, tolerance {throughput.threshold:.3g}%"
            )
            if throughput.detectable_pct is not None:
                summary += f" (from the noise; detectable {throughput.detectable_pct:.3g}%)"
        lines.append(f"{entry.verdict:<8} {entry.identity!s:<{width}}  {summary}")
        details = [c for c in entry.checks if c.name != THROUGHPUT and c.verdict != Verdict.SAME]
        if throughput is not None and throughput.verdict == Verdict.NOT_COMPARED:
            details.insert(0, throughput)
        for check in details:
            lines.append(f"{'':<8}   {check_text(check)}")
        if entry.note and summary != entry.note:
            lines.append(f"{'':<8}   {entry.note}")
    counts = ", ".join(f"{n} {verdict}" for verdict, n in comparison.counts().items())
    outcome = "REGRESSION" if comparison.regressed else "no regression"
    lines += ["", f"{outcome}: {counts}"]
    return "\n".join(lines)


def check_text(check: Check) -> str:
    """One check in a line: what moved, from what to what, against which threshold, why."""
    if check.verdict == Verdict.NOT_COMPARED:
        return f"{check.name}: {check.note}"
    threshold = "" if check.threshold is None else f", threshold {number(check.threshold)}"
    return (
        f"{check.name} {check.verdict}: {number(check.baseline)} -> {number(check.current)} "
        f"({percent(check.change_pct)}{threshold}; {check.note})"
    )


def number(value: float | None) -> str:
    """Four significant digits, thousands separated; whole numbers past 1,000 in full."""
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if value == 0 or 0.01 <= abs(value) < 1e6:
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.3g}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"
