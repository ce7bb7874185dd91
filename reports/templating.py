"""The one jinja2 environment every report template renders in."""

from __future__ import annotations

import jinja2


def template_environment() -> jinja2.Environment:
    """Autoescape on for every template: row text is data, never markup."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
