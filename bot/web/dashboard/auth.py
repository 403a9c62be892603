"""Logins, database-backed sessions, CSRF tokens and the login rate limit.

The cookie holds a random token; the database holds only its keyed hash (keyed
with SESSION_SECRET when set), so a copy of the database cannot be used to log in.
Every form carries the session's CSRF token; the login form, which has no session
yet, uses a double-submit cookie instead. Requests whose Origin is another site
are refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlparse

from aiohttp import web
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.host.audit import audit
from bot.host.services import Services
from bot.staff.users import hash_password, verify_password
from bot.store.models import User
from bot.store.models.staffing import DashboardSession, LoginAttempt
from bot.web.dashboard.render import SECURITY_HEADERS, render
from bot.web.keys import SERVICES

SESSION_LIFETIME = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(hours=4)
TOUCH_EVERY = timedelta(minutes=5)
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 20
KEEP_ATTEMPTS = timedelta(days=1)
MAX_PASSWORD = 1024  # argon2 on megabytes of input would be a cheap denial of service
LOGIN_CSRF_COOKIE = "checkins_login_csrf"
_dummy_hash: str | None = None


@dataclass(frozen=True)
class Viewer:
    """The logged-in user for this request, and their session's CSRF token."""

    user: User
    session_id: str
    csrf_token: str


def is_secure(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")


def cookie_name(settings: Settings) -> str:
    # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
    return "__Host-checkins_session" if is_secure(settings) else "checkins_session"


def token_hash(settings: Settings, token: str) -> str:
    key = (settings.session_secret or "").encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def set_cookie(
    response: web.StreamResponse, settings: Settings, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=is_secure(settings),
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: web.StreamResponse, settings: Settings, name: str) -> None:
    response.del_cookie(name, path="/", secure=is_secure(settings), httponly=True, samesite="Lax")


def client_ip(request: web.Request) -> str:
    return (request.remote or "unknown")[:64]


def safe_next(raw: str | None) -> str:
    """Only a local path may follow the login (no //host or scheme: no open redirect)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    if any(ord(c) < 32 for c in raw) or len(raw) > 500:
        return "/"
    return raw


class LoginRequired(Exception):
    pass


def login_redirect(request: web.Request) -> web.HTTPSeeOther:
    target = request.path_qs if request.method == "GET" else "/"
    redirect = web.HTTPSeeOther(f"/login?next={quote(target, safe='')}")
    redirect.headers.update(SECURITY_HEADERS)
    return redirect


async def load_viewer(request: web.Request) -> Viewer | None:
    services = request.app[SERVICES]
    token = request.cookies.get(cookie_name(services.settings))
    if not token or len(token) > 200:
        return None
    now = services.clock.now()
    key = token_hash(services.settings, token)
    async with services.sessions() as db:
        session = await db.get(DashboardSession, key)
        if session is None or session.revoked_at is not None or session.expires_at <= now:
            return None
        idle = session.last_seen_at + IDLE_TIMEOUT <= now
        user = None if idle else await db.get(User, session.user_id)
    if idle:
        await _mark_session(services, key, revoked_at=now)
        return None
    if user is None or not user.active:
        return None
    if session.last_seen_at + TOUCH_EVERY <= now:
        await _mark_session(services, key, last_seen_at=now)
    return Viewer(user, session.id, session.csrf_token)


async def _mark_session(services: Services, key: str, **values: datetime) -> None:
    """Most requests only read their session; ending it when idle, or noting it was seen
    (every ``TOUCH_EVERY``), is a write, so it waits its turn (``Services.writing``)."""
    async with services.writing() as db:
        await db.execute(
            update(DashboardSession).where(DashboardSession.id == key).values(**values)
        )


async def require_viewer(request: web.Request) -> Viewer:
    """The logged-in viewer, or a redirect to the login page (GET) / a refusal (POST)."""
    viewer = await load_viewer(request)
    if viewer is None:
        if request.method == "GET":
            raise login_redirect(request)
        raise forbidden_page("Your session has ended. Please log in again.")
    return viewer


def forbidden_page(message: str) -> web.HTTPForbidden:
    response = render("error.html", {"viewer": None, "title": "Not allowed", "message": message})
    error = web.HTTPForbidden(text=response.text, content_type="text/html")
    error.headers.update(SECURITY_HEADERS)
    return error


def check_origin(request: web.Request) -> None:
    """Refuse a form posted from another site (belt and braces with the CSRF token)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":  # no information: the CSRF token decides
        return
    own = {request.host, urlparse(request.app[SERVICES].settings.public_url).netloc}
    if urlparse(origin).netloc not in own:
        raise forbidden_page("This form was sent from another site and was refused.")


async def read_form(request: web.Request, viewer: Viewer) -> dict[str, str]:
    """The posted fields, after checking the Origin and the CSRF token."""
    check_origin(request)
    data = await request.post()
    token = data.get("csrf_token")
    if not isinstance(token, str) or not secrets.compare_digest(
        token.encode(), viewer.csrf_token.encode()
    ):
        raise forbidden_page(
            "The form had expired or did not come from this dashboard. Please try again."
        )
    fields: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(value, str):
            raise forbidden_page("Files cannot be uploaded here.")
        fields.setdefault(name, value)
    return fields


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


async def login_blocked(db: AsyncSession, email: str, ip: str, now: datetime) -> bool:
    since = now - LOGIN_WINDOW
    failures = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.at > since, LoginAttempt.succeeded.is_(False))
    )
    by_email = await db.scalar(failures.where(LoginAttempt.email == email)) or 0
    by_ip = await db.scalar(failures.where(LoginAttempt.ip == ip)) or 0
    return by_email >= MAX_FAILURES_PER_EMAIL or by_ip >= MAX_FAILURES_PER_IP


def _verify(user: User | None, password: str) -> bool:
    """Always spend the time of one argon2 check, so unknown emails are not faster."""
    global _dummy_hash
    if user is None or not user.active:
        if _dummy_hash is None:
            _dummy_hash = hash_password(secrets.token_urlsafe(16))
        verify_password(_dummy_hash, password)
        return False
    return verify_password(user.password_hash, password)


@dataclass(frozen=True)
class LoginResult:
    token: str | None
    user: User | None
    blocked: bool = False


async def attempt_login(services: Services, email: str, password: str, ip: str) -> LoginResult:
    """Check the password between a read and the write: argon2 spends about 0.1 s of CPU,
    and the write turn (``Services.writing``) is not held for it. The limit and the
    account are checked again in the turn, as they were in the one transaction before."""
    now = services.clock.now()
    email = email.strip().lower()[:254]
    async with services.sessions() as db:
        blocked = await login_blocked(db, email, ip, now)
        user = None if blocked else await db.scalar(select(User).where(User.email == email))
    ok = not blocked and len(password) <= MAX_PASSWORD and _verify(user, password)
    async with services.writing() as db:
        await db.execute(delete(LoginAttempt).where(LoginAttempt.at < now - KEEP_ATTEMPTS))
        if blocked or await login_blocked(db, email, ip, now):
            audit(db, now, "anonymous", "login.blocked", "login", ip=ip)
            return LoginResult(None, None, blocked=True)
        if ok and user is not None:  # the account may have changed during the check
            checked_hash = user.password_hash
            user = await db.get(User, user.id)
            ok = user is not None and user.active and user.password_hash == checked_hash
        db.add(LoginAttempt(email=email, ip=ip, at=now, succeeded=ok))
        if not ok or user is None:
            subject = f"user:{user.id}" if user is not None else "login"
            audit(db, now, "anonymous", "login.failed", subject, ip=ip)
            return LoginResult(None, None)
        token = secrets.token_urlsafe(32)
        db.add(
            DashboardSession(
                id=token_hash(services.settings, token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        audit(db, now, f"user:{user.id}", "login", f"user:{user.id}", ip=ip)
        return LoginResult(token, user)


async def end_session(services: Services, viewer: Viewer) -> None:
    now = services.clock.now()
    async with services.writing() as db:
        await db.execute(
            update(DashboardSession)
            .where(DashboardSession.id == viewer.session_id)
            .values(revoked_at=now)
        )
        audit(db, now, f"user:{viewer.user.id}", "logout", f"user:{viewer.user.id}")


async def revoke_sessions_of(db: AsyncSession, user_id: int, now: datetime) -> None:
    await db.execute(
        update(DashboardSession)
        .where(DashboardSession.user_id == user_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
