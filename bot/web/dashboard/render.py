"""Rendering pages: one autoescaping Jinja2 environment and the headers every page carries."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from bot.i18n.languages import LANGUAGES, is_rtl

TEMPLATES = Path(__file__).with_name("templates")
DISPLAY_ZONE = ZoneInfo("Europe/London")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # item links never leave the site; forms keep Origin
    "Cache-Control": "no-store",
}


def when(value: datetime | None) -> str:
    """A UTC time as the coaches read it (UK time), e.g. 'Mon 2 Mar 10:05'."""
    if value is None:
        return ""
    local = value.astimezone(DISPLAY_ZONE)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def duration(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def countdown(deadline: datetime | None, now: datetime) -> str:
    if deadline is None:
        return ""
    if deadline <= now:
        return f"overdue by {duration(now - deadline)}"
    return f"due in {duration(deadline - now)}"


def lang_tag(code: str | None) -> str:
    """Our codes as BCP 47 tags for the lang attribute (pa_Arab -> pa-Arab)."""
    return (code or "und").replace("_", "-")


def language_name(code: str | None) -> str:
    lang = LANGUAGES.get(code or "")
    if lang is None:
        return code or ""
    return (
        lang.english_name
        if lang.native_name == lang.english_name
        else (f"{lang.english_name} ({lang.native_name})")
    )


def text_dir(code: str | None) -> str:
    return "rtl" if is_rtl(code or "") else "auto"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, lang_tag=lang_tag, language_name=language_name, text_dir=text_dir)
    env.globals.update(countdown=countdown, duration=duration)
    return env


ENV = _environment()


def secure(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(SECURITY_HEADERS)
    return response


BASE_CONTEXT: dict[str, Any] = {
    "viewer": None,
    "nav": [],
    "done": None,
    "error": None,
    "csrf_token": "",
}


def render_text(template: str, context: dict[str, Any]) -> str:
    return ENV.get_template(template).render(**{**BASE_CONTEXT, **context})


def render(template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    response = web.Response(
        text=render_text(template, context),
        status=status,
        content_type="text/html",
        charset="utf-8",
    )
    secure(response)
    return response


def see_other(location: str) -> web.HTTPSeeOther:
    """Post/redirect/get; ``location`` is always a path we built."""
    redirect = web.HTTPSeeOther(location)
    redirect.headers.update(SECURITY_HEADERS)
    return redirect
