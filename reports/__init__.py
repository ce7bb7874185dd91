"""The HTML report: a results folder -> one self-contained file people read to choose a GAN.

`report(results_dir)` is the entry point (`python -m bench report` calls it);
`reports.aggregate` turns rows into per-implementation figures and picks,
`reports.plots` draws them, `reports.html` renders the page.
"""

from reports.html import ReportError, report

__all__ = ["ReportError", "report"]
