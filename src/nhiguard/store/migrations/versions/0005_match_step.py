"""The CI step that printed a match's line (matches.step).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.add_column(
            sa.Column(
                "step",
                sa.String(length=300),
                nullable=True,
                comment="CI logs: the step of the job that printed the line (a GitLab section, a "
                "GitHub Actions step); NULL elsewhere.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("step")
