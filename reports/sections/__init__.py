"""The report's sections, one module each, in page order.

environment (header), choose, leaderboard, failures, frameworks, plots
(reports/plots.py), samples, raw. Each turns implementations into the plain
values its part of the template shows; reports.html.render puts them together.
"""
