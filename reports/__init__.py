"""The HTML report: a results folder -> one self-contained file people read to choose a GAN.

`report(results_dir)` is the entry point (`python -m bench report` calls it);
`reports.aggregate` turns rows into per-implementation figures over seeds,
`reports.sections` makes each section's values (environment, choose,
leaderboard, failures, frameworks, samples, raw rows), `reports.plots` draws
the figures, and `reports.html.render` puts the page together.
"""

from reports.html import ReportError, report

__all__ = ["ReportError", "report"]
