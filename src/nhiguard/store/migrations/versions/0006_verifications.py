"""The last live verification of each finding (verifications).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("finding_id", sa.String(length=16), nullable=False,
                  comment="Finding whose secret was verified (its value is never stored)."),
        sa.Column("provider", sa.String(length=64), nullable=False,
                  comment="Verifier that answered, e.g. 'github'."),
        sa.Column("status", sa.String(length=16), nullable=False,
                  comment="live, revoked, unknown or error."),
        sa.Column("identity", JSON_DOC, nullable=False,
                  comment="What the provider said about the identity (account, user, scopes); no secret."),
        sa.Column("message", sa.Text(), nullable=False, comment="Why the status, in words; no secret."),
        sa.Column("checked_at", TIMESTAMP, nullable=False, comment="When it was verified (UTC)."),
        sa.ForeignKeyConstraint(["finding_id"], ["findings.id"],
                                name=op.f("fk_verifications_finding_id_findings"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("finding_id", name=op.f("pk_verifications")),
        comment="The last live verification of each finding, reused for a while (verify_ttl).",
    )


def downgrade() -> None:
    op.drop_table("verifications")
