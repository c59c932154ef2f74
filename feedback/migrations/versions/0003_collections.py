"""collections on interactions and retrieved chunks

Every stored chunk records the collection it came from and every interaction the collections it was
searched in, so /bron-sources, the review page, /bron-flags and the exports can show a row only to a
viewer whose scope holds them. Rows from before stay NULL: shown to no scoped viewer.

Revision ID: 0003_collections
Revises: 0002_source_sync
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_collections"
down_revision: str | None = "0002_source_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collections", sa.JSON(), nullable=True))
    with op.batch_alter_table("retrieved_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collection", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_retrieved_chunks_collection"), ["collection"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("retrieved_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retrieved_chunks_collection"))
        batch_op.drop_column("collection")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_column("collections")
