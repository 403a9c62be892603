"""outbox lanes: urgent replies are claimed before a backlog of scheduled messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# bot.outbox.lanes as it was when this revision was written: 0 urgent, 2 bulk. Rows
# already queued cannot tell whether they answered a message, so none becomes a reply.
URGENT_KINDS = ("crisis", "optout", "help", "coach", "notify")


def upgrade() -> None:
    # Plain statements, no batch copy: SQLite adds a column with a default in place.
    op.add_column(
        "outbox", sa.Column("lane", sa.SmallInteger(), nullable=False, server_default=sa.text("2"))
    )
    outbox = sa.table("outbox", sa.column("kind", sa.String), sa.column("lane", sa.SmallInteger))
    op.execute(outbox.update().where(outbox.c.kind.in_(URGENT_KINDS)).values(lane=0))
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "lane", "not_before", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "not_before"])
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("lane")
