"""Non-human identities imported from providers' inventories (identities).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.String(length=16), nullable=False,
                  comment="16 hex of sha256 over provider, kind and external id (model.identity_id)."),
        sa.Column("provider", sa.String(length=64), nullable=False,
                  comment="aws, gcp, azure, kubernetes, github, ..."),
        sa.Column("kind", sa.String(length=64), nullable=False,
                  comment="aws_iam_user, aws_access_key, aws_iam_role, gcp_service_account_key, k8s_sa_token, ..."),
        sa.Column("external_id", sa.Text(), nullable=False,
                  comment="The provider's id (ARN, access key id, e-mail, namespace/name); never a secret."),
        sa.Column("name", sa.Text(), nullable=False, comment="Display name."),
        sa.Column("account", sa.String(length=200), nullable=False,
                  comment="AWS account, GCP project, Azure tenant, cluster or GitHub organisation; '' if unknown."),
        sa.Column("parent_id", sa.String(length=16), nullable=True,
                  comment="For a credential: the identity (principal) it belongs to."),
        sa.Column("owner", sa.String(length=200), nullable=True,
                  comment="Owner set by hand (`inventory own`); others are derived."),
        sa.Column("owner_set_by", sa.String(length=200), nullable=True, comment="Who set the owner by hand."),
        sa.Column("purpose", sa.Text(), nullable=True,
                  comment="What the identity is for, when an export or a person says."),
        sa.Column("environment", sa.String(length=64), nullable=True,
                  comment="Environment from tags or set by hand."),
        sa.Column("created", TIMESTAMP, nullable=True, comment="Created (UTC)."),
        sa.Column("expires", TIMESTAMP, nullable=True, comment="Expires (UTC); NULL: never, or not known."),
        sa.Column("last_used", TIMESTAMP, nullable=True, comment="Last used (UTC) as the provider reports it."),
        sa.Column("last_rotated", TIMESTAMP, nullable=True, comment="Last rotated (UTC)."),
        sa.Column("status", sa.String(length=32), nullable=False,
                  comment="active, inactive, disabled, expired, suspended."),
        sa.Column("privileges", JSON_DOC, nullable=False,
                  comment="JSON list of short privilege names (policies, roles, scopes)."),
        sa.Column("grants", JSON_DOC, nullable=False,
                  comment="JSON list of permission statements: {actions, resources, source, effect, ...}."),
        sa.Column("tags", JSON_DOC, nullable=False, comment="JSON object of the provider's tags or labels."),
        sa.Column("attributes", JSON_DOC, nullable=False, comment="JSON object of what else the export says."),
        sa.Column("link_fingerprint", sa.String(length=64), nullable=True,
                  comment="Keyed fingerprint of the external id as a scan would record it (AWS key ids), "
                  "to link leaked copies to the identity."),
        sa.Column("sources", JSON_DOC, nullable=False, comment="JSON list of the imports that described it."),
        sa.Column("first_imported", TIMESTAMP, nullable=False, comment="First imported (UTC)."),
        sa.Column("last_imported", TIMESTAMP, nullable=False, comment="Last imported (UTC)."),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        comment="Non-human identities from providers' inventories (IAM, service accounts, tokens).",
    )
    op.create_index("ix_identities_link_fingerprint", "identities", ["link_fingerprint"])
    op.create_index("ix_identities_parent_id", "identities", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_identities_parent_id", table_name="identities")
    op.drop_index("ix_identities_link_fingerprint", table_name="identities")
    op.drop_table("identities")
