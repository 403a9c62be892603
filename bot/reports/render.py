"""HTML for staff pages and documents: one autoescaping Jinja2 environment.

Templates live in ``bot/web/staff_templates``; the dashboard's templates are the
fallback, so staff pages extend the dashboard layout (its navigation and styles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from bot.web.dashboard.render import TEMPLATES as DASHBOARD_TEMPLATES
from bot.web.dashboard.render import countdown, duration, lang_tag, language_name, text_dir, when

STAFF_TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "staff_templates"


def number(value: float) -> str:
    """3 rather than 3.0; 6.5 stays 6.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(STAFF_TEMPLATES), jinja2.FileSystemLoader(DASHBOARD_TEMPLATES)]
        ),
        autoescape=True,
        extensions=["jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when, lang_tag=lang_tag, language_name=language_name, text_dir=text_dir, num=number
    )
    env.globals.update(countdown=countdown, duration=duration)
    return env


ENV = _environment()
BASE_CONTEXT: dict[str, Any] = {
    "viewer": None,
    "nav": [],
    "done": None,
    "error": None,
    "csrf_token": "",
}


# Standalone documents (subject access, the MDT report) carry their own styles so they
# print and save as one file; they may run no script and load nothing.
DOCUMENT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def render_html(template: str, context: dict[str, Any]) -> str:
    return ENV.get_template(template).render(**{**BASE_CONTEXT, **context})
