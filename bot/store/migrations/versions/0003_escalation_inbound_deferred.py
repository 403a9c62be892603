"""an escalation's inbound message is checked at commit (PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:30:00

The intake's batch on PostgreSQL writes its inbound messages at the end, each with its
outcome, in one statement with the participants' ``last_inbound_at`` (``bot.host.batch``).
An escalation a turn raises may be flushed before that, so its reference to the message
is checked at commit. SQLite's batch writes its messages first, and SQLite would have to
copy the table to change a constraint: its schema is left as it is.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "fk_escalations_inbound_id_inbound_messages"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE escalations ALTER CONSTRAINT {CONSTRAINT} DEFERRABLE INITIALLY DEFERRED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE escalations ALTER CONSTRAINT {CONSTRAINT} NOT DEFERRABLE")
