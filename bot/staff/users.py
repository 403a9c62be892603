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


def new_user(email: str, role: str, password: str, now: datetime, name: str = "") -> User:
    """A checked account, its password hashed, not yet stored (``store_user``).

    Hashing spends about 0.1 s of CPU (argon2): a caller that writes in the write turn
    makes the account first, so the turn is not held for it.
    """
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationError(f"{email[:80]!r} is not an email address", "invalid_email")
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", "invalid_role")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"the password must have at least {MIN_PASSWORD} characters", "weak_password"
        )
    return User(
        email=email, role=role, name=name, password_hash=hash_password(password), created_at=now
    )


async def store_user(db: AsyncSession, user: User) -> User:
    """Store an account made by ``new_user``, unless its email is taken."""
    if await db.scalar(select(User.id).where(User.email == user.email)):
        raise Conflict(f"a user with the email {user.email} already exists", "duplicate_email")
    db.add(user)
    await db.flush()
    audit(db, user.created_at, "cli", "user.create", f"user:{user.id}", role=user.role)
    return user


async def add_user(
    db: AsyncSession, email: str, role: str, password: str, now: datetime, name: str = ""
) -> User:
    return await store_user(db, new_user(email, role, password, now, name))
