"""Behaviour baselines and alerts of `nhiguard watch` (watch_profiles, alerts, watch_inputs).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "watch_profiles",
        sa.Column("identity", sa.String(length=600), nullable=False,
                  comment="The identity key events are attributed to (aws:AKIA..., aws:<role ARN>, k8s:<user>, ...)."),
        sa.Column("profile", JSON_DOC, nullable=False,
                  comment="What the identity normally does: countries, networks, clients, actions, hours, volumes."),
        sa.Column("events", sa.BigInteger(), nullable=False, comment="Events learned into the profile."),
        sa.Column("first_seen", TIMESTAMP, nullable=False, comment="Its first event (UTC)."),
        sa.Column("last_seen", TIMESTAMP, nullable=False, comment="Its latest event (UTC)."),
        sa.Column("updated_at", TIMESTAMP, nullable=False, comment="When the profile was last saved (UTC)."),
        sa.PrimaryKeyConstraint("identity", name=op.f("pk_watch_profiles")),
        comment="Per-identity behaviour baselines learned by `nhiguard watch` from audit logs.",
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=16), nullable=False,
                  comment="16 hex of sha256 over detector, identity and subject: repeats are one alert."),
        sa.Column("detector", sa.String(length=64), nullable=False,
                  comment="The detector that raised it, e.g. watch.new-country."),
        sa.Column("identity", sa.String(length=600), nullable=False, comment="The identity key of the events."),
        sa.Column("inventory_id", sa.String(length=80), nullable=True,
                  comment="The inventory identity it resolved to, if any."),
        sa.Column("identity_name", sa.Text(), nullable=False, comment="A readable name of the identity."),
        sa.Column("human", sa.String(length=16), nullable=False, comment="non-human, human or unknown."),
        sa.Column("severity", sa.String(length=16), nullable=False, comment="info, low, medium, high or critical."),
        sa.Column("status", sa.String(length=32), nullable=False,
                  comment="open, acknowledged, false_positive or resolved."),
        sa.Column("first_seen", TIMESTAMP, nullable=False, comment="Time of its first event (UTC)."),
        sa.Column("last_seen", TIMESTAMP, nullable=False, comment="Time of its latest event (UTC)."),
        sa.Column("count", sa.BigInteger(), nullable=False, comment="Events that raised it."),
        sa.Column("suppressed", sa.BigInteger(), nullable=False,
                  comment="Other alerts of the identity held back by the rate limit."),
        sa.Column("summary", sa.Text(), nullable=False, comment="What was seen; no secret."),
        sa.Column("baseline", sa.Text(), nullable=False, comment="What the identity normally does."),
        sa.Column("evidence", JSON_DOC, nullable=False, comment="JSON object of names and figures; no secret."),
        sa.Column("events", JSON_DOC, nullable=False, comment="JSON list of where the first events are (file:line)."),
        sa.Column("owasp", JSON_DOC, nullable=False, comment="JSON list of OWASP NHI Top 10 ids."),
        sa.Column("attack", JSON_DOC, nullable=False, comment="JSON list of MITRE ATT&CK technique ids."),
        sa.Column("decided_by", sa.String(length=200), nullable=True, comment="Who set the status."),
        sa.Column("decided_at", TIMESTAMP, nullable=True, comment="When the status was set (UTC)."),
        sa.Column("reason", sa.Text(), nullable=True, comment="Why the status was set."),
        sa.Column("created_at", TIMESTAMP, nullable=False, comment="When the alert was first stored (UTC)."),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        comment="Alerts raised by `nhiguard watch`, deduplicated, with their triage.",
    )
    op.create_table(
        "watch_inputs",
        sa.Column("head", sa.String(length=64), nullable=False,
                  comment="sha256 of the file's first 64 KiB: the same log file wherever it is."),
        sa.Column("name", sa.Text(), nullable=False, comment="Where it was last read from."),
        sa.Column("size_read", sa.BigInteger(), nullable=False, comment="Bytes read so far."),
        sa.Column("tail", sa.String(length=64), nullable=False,
                  comment="sha256 of the 64 KiB before size_read: an appended file resumes, a rewritten one is "
                  "read again."),
        sa.Column("events", sa.BigInteger(), nullable=False, comment="Events read from it in all."),
        sa.Column("read_at", TIMESTAMP, nullable=False, comment="When it was last read (UTC)."),
        sa.PrimaryKeyConstraint("head", name=op.f("pk_watch_inputs")),
        comment="Log files `nhiguard watch` has read, so a rerun reads only what is new.",
    )
    op.create_table(
        "token_hashes",
        sa.Column("digest", sa.String(length=64), nullable=False,
                  comment="base64 SHA-256 of a GitHub token a scan found: the hashed_token GitHub's audit log "
                  "records."),
        sa.Column("finding_id", sa.String(length=16), nullable=False, comment="The finding of the token."),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_token_hashes")),
        comment="Audit-log digests of found tokens, so `nhiguard watch` can tie a token's use to its leak.",
    )
    op.create_index("ix_alerts_identity", "alerts", ["identity"])
    op.create_index("ix_alerts_status", "alerts", ["status"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status", table_name="alerts")
    op.drop_index("ix_alerts_identity", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("token_hashes")
    op.drop_table("watch_inputs")
    op.drop_table("watch_profiles")
