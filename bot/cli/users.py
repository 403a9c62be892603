"""``python -m bot users add EMAIL --role ROLE``: password from stdin, or generated and printed."""

from __future__ import annotations

import sys

from bot.config import Settings
from bot.host.services import build_services
from bot.staff.users import add_user, generate_password


async def add_user_command(settings: Settings, email: str, role: str, name: str) -> int:
    supplied = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.readline().strip()
    password = supplied or generate_password()
    services = build_services(settings)
    try:
        async with services.sessions() as db, db.begin():
            user = await add_user(db, email, role, password, services.clock.now(), name=name)
    finally:
        await services.close()
    print(f"added {role} {user.email} (id {user.id})")
    if not supplied:
        print(f"password: {password}")
    return 0
