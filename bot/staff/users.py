"""Dashboard accounts: passwords hashed with argon2, never stored or logged in clear."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, ValidationError
from bot.host.audit import audit
from bot.store.models import User

ROLES = ("coach", "lead", "staff", "admin")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(12)


async def add_user(
    db: AsyncSession, email: str, role: str, password: str, now: datetime, name: str = ""
) -> User:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationError(f"{email[:80]!r} is not an email address", "invalid_email")
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", "invalid_role")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"the password must have at least {MIN_PASSWORD} characters", "weak_password"
        )
    if await db.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with the email {email} already exists", "duplicate_email")
    user = User(
        email=email, role=role, name=name, password_hash=hash_password(password), created_at=now
    )
    db.add(user)
    await db.flush()
    audit(db, now, "cli", "user.create", f"user:{user.id}", role=role)
    return user
