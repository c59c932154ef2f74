"""source sync state: cursors and items of connected sources

Revision ID: 0002_source_sync
Revises: 0001
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_source_sync"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_syncs",
        sa.Column("stream", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("in_progress", sa.Boolean(), nullable=False),
        sa.Column("full_pass", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("mapping", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("stream"),
    )
    op.create_index("ix_source_syncs_source", "source_syncs", ["source"])
    op.create_table(
        "source_items",
        sa.Column("stream", sa.String(length=300), nullable=False),
        sa.Column("item_id", sa.String(length=1000), nullable=False),
        sa.Column("doc_id", sa.String(length=1200), nullable=False),
        sa.Column("collection", sa.String(length=200), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("version", sa.String(length=500), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("indexed", sa.Boolean(), nullable=False),
        sa.Column("seen_generation", sa.Integer(), nullable=False),
        sa.Column("pending_delete", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream", "item_id"),
    )


def downgrade() -> None:
    op.drop_table("source_items")
    op.drop_index("ix_source_syncs_source", table_name="source_syncs")
    op.drop_table("source_syncs")
