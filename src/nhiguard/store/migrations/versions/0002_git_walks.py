"""The last history walk per repository and ruleset (git_walks), so incremental scans carry
forward only what the previous walk saw and only while it is still reachable.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "git_walks",
        sa.Column(
            "walk_key",
            sa.Text(),
            nullable=False,
            comment="Repository and ruleset of the walk (the key of walked_commits).",
        ),
        sa.Column(
            "scan_id",
            sa.Integer(),
            nullable=True,
            comment="The last scan that walked the repository's whole history under the "
            "ruleset; the next incremental scan carries its git places forward.",
        ),
        sa.Column(
            "tips",
            JSON_DOC,
            nullable=False,
            comment="Ref name -> commit id at that walk, to tell a rewrite from new commits.",
        ),
        sa.Column("walked_at", TIMESTAMP, nullable=False, comment="When it was walked (UTC)."),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name=op.f("fk_git_walks_scan_id_scans"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("walk_key", name=op.f("pk_git_walks")),
        comment="The last history walk per repository and ruleset.",
    )


def downgrade() -> None:
    op.drop_table("git_walks")
