"""the Slack message that asked, on interactions

`message_ts` is Bron's answer; `question_ts` is the person's own message, so deleting or editing it in
Slack can erase the question and the answer stored for it. Rows from before stay NULL (retention
removes them in time).

Revision ID: 0004_question_ts
Revises: 0003_collections
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_question_ts"
down_revision: str | None = "0003_collections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("question_ts", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_interactions_question_ts"), ["question_ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_question_ts"))
        batch_op.drop_column("question_ts")
