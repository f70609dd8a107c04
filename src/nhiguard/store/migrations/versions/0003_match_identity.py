"""A match is identified by its secret and decode route too: two archive members hold their
secrets at the same member offsets, and the second was dropped as a duplicate of the first.
`decoded` becomes NOT NULL ('' for a secret read as it stands) so it can be part of the key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = ["blob_id", "ruleset_hash", "rule_id", "byte_start", "byte_end"]
NEW_KEY = [*OLD_KEY, "fingerprint", "decoded"]


def upgrade() -> None:
    op.execute("UPDATE matches SET decoded = '' WHERE decoded IS NULL")
    with op.batch_alter_table("matches") as batch:
        batch.alter_column("decoded", existing_type=sa.String(200), nullable=False,
                           server_default="",
                           comment="Decode route that exposed the secret, e.g. 'base64'; '' when "
                           "it was read as it stands.")
        batch.drop_constraint(op.f("pk_matches"), type_="primary")
        batch.create_primary_key(op.f("pk_matches"), NEW_KEY)


def downgrade() -> None:
    # rows that differ only in secret or route cannot all survive the narrower key
    op.execute(
        "DELETE FROM matches WHERE EXISTS (SELECT 1 FROM matches m2 WHERE "
        + " AND ".join(f"m2.{c} = matches.{c}" for c in OLD_KEY)
        + " AND (m2.fingerprint < matches.fingerprint OR (m2.fingerprint = matches.fingerprint"
        " AND m2.decoded < matches.decoded)))"
    )
    with op.batch_alter_table("matches") as batch:
        batch.drop_constraint(op.f("pk_matches"), type_="primary")
        batch.create_primary_key(op.f("pk_matches"), OLD_KEY)
        batch.alter_column("decoded", existing_type=sa.String(200), nullable=True,
                           server_default=None)
    op.execute("UPDATE matches SET decoded = NULL WHERE decoded = ''")
