"""What each container image layer holds (image_layers), so a layer scanned before is not
downloaded or decompressed again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "image_layers",
        sa.Column(
            "layer_digest",
            sa.String(length=140),
            nullable=False,
            comment="Digest of a container image layer (its blob, or its diff id in a docker save "
            "archive): a content id, the same in every image and tag that has the layer.",
        ),
        sa.Column(
            "key_id",
            sa.String(length=64),
            nullable=False,
            comment="Which fingerprint key the blob ids below are keyed with.",
        ),
        sa.Column(
            "entries",
            sa.Text(),
            nullable=False,
            comment="JSON list of the layer's entries: [path, kind, keyed blob id or null, size], "
            "kind one of file, dir, other, whiteout, opaque. Paths and keyed ids only, no content.",
        ),
        sa.Column("files", sa.Integer(), nullable=False, comment="Regular files in the layer."),
        sa.Column("recorded_at", TIMESTAMP, nullable=False, comment="When the layer was read (UTC)."),
        sa.PrimaryKeyConstraint("layer_digest", "key_id", name=op.f("pk_image_layers")),
        comment="What each image layer holds, so a layer scanned before (in any image or tag) is "
        "neither downloaded nor decompressed again while its files' results are in the store.",
    )


def downgrade() -> None:
    op.drop_table("image_layers")
