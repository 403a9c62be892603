"""Revisions after the first: a database made by an earlier version keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from bot.store.migrate import alembic_config, upgrade

ROW = (
    'INSERT INTO outbox (channel, "to", body, buttons, status, kind, not_before, created_at,'
    " attempts) VALUES ('sms', '+447700900123', 'Hello.', '[]', 'pending', ?,"
    " '2026-11-27 09:00:00.000000', '2026-11-27 09:00:00.000000', 0)"
)


def test_queued_rows_get_a_lane_from_their_kind_and_the_claim_index_follows(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.executemany(ROW, [("crisis",), ("flow",), ("notify",), ("scheduled",)])
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        lanes = db.execute("SELECT kind, lane FROM outbox ORDER BY id").fetchall()
        index = [r[2] for r in db.execute("PRAGMA index_info('ix_outbox_due')")]
    assert lanes == [("crisis", 0), ("flow", 2), ("notify", 0), ("scheduled", 2)]
    assert index == ["status", "lane", "not_before", "id"]

    command.downgrade(alembic_config(url), "0001")
    with sqlite3.connect(tmp_path / "old.db") as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info('outbox')")]
        index = [r[2] for r in db.execute("PRAGMA index_info('ix_outbox_due')")]
        assert db.execute("SELECT count(*) FROM outbox").fetchone() == (4,)
    assert "lane" not in columns
    assert index == ["status", "not_before"]
