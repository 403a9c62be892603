#!/usr/bin/env python3
"""Regenerate the initial migration from the models (only until the first release).

Nothing has been deployed yet, so the schema lives in one migration, 0001.
Once a database exists in production, add new revisions instead.
"""

from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path

from alembic import command

from bot.store.migrate import MIGRATIONS, alembic_config

TARGET = MIGRATIONS / "versions" / "0001_initial_schema.py"


def main() -> None:
    with open(Path(tempfile.gettempdir()) / "checkins-regen.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        TARGET.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            config = alembic_config(f"sqlite+aiosqlite:///{tmp}/empty.db")
            command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
