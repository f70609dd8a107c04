"""Initial schema: scans, scanned blobs, matches, findings, locations, scan locations,
walked commits, meta.

Revision ID: 0001
Revises:
Create Date: 2026-12-03

A frozen snapshot: never import nhiguard.store.schema here; spell every type out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The types as schema.py declares them (UTCDateTime is a DateTime(timezone=True) underneath).
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column(
            "key", sa.String(length=100), nullable=False, comment="Setting name, e.g. 'created_at'."
        ),
        sa.Column("value", sa.Text(), nullable=False, comment="Setting value as text."),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
        comment="Facts about the store itself (creation time, the nhiguard version that created it).",
    )
    op.create_table(
        "scans",
        sa.Column(
            "id",
            sa.Integer(),
            autoincrement=True,
            nullable=False,
            comment="Scan number, increasing.",
        ),
        sa.Column("started_at", TIMESTAMP, nullable=False, comment="When the scan began (UTC)."),
        sa.Column(
            "finished_at",
            TIMESTAMP,
            nullable=True,
            comment="When the scan finished (UTC); NULL while running or if it crashed.",
        ),
        sa.Column(
            "targets",
            JSON_DOC,
            nullable=False,
            comment="JSON list of the targets as given by the user.",
        ),
        sa.Column(
            "ruleset_hash",
            sa.String(length=64),
            nullable=False,
            comment="Hash of the rules and filters in force; results are valid only under it.",
        ),
        sa.Column(
            "engine",
            sa.String(length=100),
            nullable=False,
            comment="Matching engine, e.g. 'hyperscan'.",
        ),
        sa.Column(
            "bytes_scanned",
            sa.BigInteger(),
            nullable=False,
            comment="Bytes read and matched in this scan.",
        ),
        sa.Column(
            "blobs_scanned",
            sa.Integer(),
            nullable=False,
            comment="Distinct blobs matched in this scan.",
        ),
        sa.Column(
            "blobs_seen",
            sa.Integer(),
            nullable=False,
            comment="Distinct blobs met by this scan, whether matched now or reused from the store.",
        ),
        sa.Column(
            "blobs_reused",
            sa.Integer(),
            nullable=False,
            comment="Distinct blobs whose results came from an earlier scan (incremental scanning).",
        ),
        sa.Column(
            "errors",
            JSON_DOC,
            nullable=False,
            comment="JSON list of {path, message, kind} for input not read: kind 'error' or 'skipped'.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
        comment="One row per run of `nhiguard scan`.",
    )
    op.create_table(
        "walked_commits",
        sa.Column(
            "repo_key",
            sa.Text(),
            nullable=False,
            comment="Identity of a repository (e.g. its resolved path or URL).",
        ),
        sa.Column(
            "commit_sha",
            sa.String(length=64),
            nullable=False,
            comment="Commit whose tree changes were walked.",
        ),
        sa.Column("walked_at", TIMESTAMP, nullable=False, comment="When it was walked (UTC)."),
        sa.PrimaryKeyConstraint("repo_key", "commit_sha", name=op.f("pk_walked_commits")),
        comment="Commits already walked per repository, so a rescan walks only new history.",
    )
    op.create_table(
        "findings",
        sa.Column(
            "id",
            sa.String(length=16),
            nullable=False,
            comment="First 16 hex of sha256(rule_id + ':' + fingerprint); stable across rescans.",
        ),
        sa.Column(
            "rule_id", sa.String(length=200), nullable=False, comment="Rule that found the secret."
        ),
        sa.Column(
            "rule_name",
            sa.String(length=300),
            nullable=False,
            comment="Rule's name when last seen (used if the rule is gone).",
        ),
        sa.Column(
            "kind",
            sa.String(length=100),
            nullable=False,
            comment="NHI kind the secret reveals, e.g. 'aws_access_key'.",
        ),
        sa.Column(
            "provider",
            sa.String(length=100),
            nullable=False,
            comment="Provider of the identity, e.g. 'aws'.",
        ),
        sa.Column(
            "severity",
            sa.String(length=16),
            nullable=False,
            comment="Rule's severity when last seen: info..critical.",
        ),
        sa.Column(
            "fingerprint",
            sa.String(length=64),
            nullable=False,
            comment="Keyed hash of the secret (never the secret).",
        ),
        sa.Column(
            "preview",
            sa.String(length=200),
            nullable=False,
            comment="Redacted preview of the secret, safe to show.",
        ),
        sa.Column(
            "first_seen",
            TIMESTAMP,
            nullable=False,
            comment="Start of the first scan that found it (UTC).",
        ),
        sa.Column(
            "last_seen",
            TIMESTAMP,
            nullable=False,
            comment="Start of the last scan that found it (UTC).",
        ),
        sa.Column(
            "first_scan_id", sa.Integer(), nullable=True, comment="Scan that first found it."
        ),
        sa.Column("last_scan_id", sa.Integer(), nullable=True, comment="Last scan that found it."),
        sa.Column(
            "status",
            sa.String(length=32),
            server_default="open",
            nullable=False,
            comment="Triage status: open, false_positive, accepted, revoked, fixed.",
        ),
        sa.Column(
            "status_by", sa.String(length=200), nullable=True, comment="Who set the status last."
        ),
        sa.Column(
            "status_at", TIMESTAMP, nullable=True, comment="When the status was set last (UTC)."
        ),
        sa.Column(
            "status_reason", sa.Text(), nullable=True, comment="Why the status was set, free text."
        ),
        sa.ForeignKeyConstraint(
            ["first_scan_id"],
            ["scans.id"],
            name=op.f("fk_findings_first_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_scan_id"],
            ["scans.id"],
            name=op.f("fk_findings_last_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("rule_id", "fingerprint", name=op.f("uq_findings_rule_id_fingerprint")),
        comment="One row per secret per rule (rule_id, fingerprint); triage lives here and survives rescans.",
    )
    op.create_table(
        "locations",
        sa.Column(
            "loc_key",
            sa.String(length=32),
            nullable=False,
            comment="Hash of (target, blob_id, fields): one row per distinct place, shared by scans.",
        ),
        sa.Column(
            "target",
            sa.Text(),
            nullable=False,
            comment="Target as given by the user (path, repository, image).",
        ),
        sa.Column(
            "blob_id", sa.String(length=64), nullable=False, comment="Blob seen at this place."
        ),
        sa.Column(
            "source",
            sa.String(length=32),
            nullable=False,
            comment="Provenance tag: file, git, stdin, image, ...",
        ),
        sa.Column(
            "path",
            sa.Text(),
            nullable=True,
            comment="Path of the blob (NULL for an unreachable git blob).",
        ),
        sa.Column(
            "commit_sha",
            sa.String(length=64),
            nullable=True,
            comment="Git commit that introduced the blob at path.",
        ),
        sa.Column(
            "fields",
            JSON_DOC,
            nullable=False,
            comment="JSON of the provenance's as_location() fields, keys sorted.",
        ),
        sa.Column(
            "first_scan_id",
            sa.Integer(),
            nullable=True,
            comment="Scan that first recorded this place.",
        ),
        sa.ForeignKeyConstraint(
            ["first_scan_id"],
            ["scans.id"],
            name=op.f("fk_locations_first_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("loc_key", name=op.f("pk_locations")),
        comment="Places where blobs were seen (a provenance of a match), stored once however many scans see them; `scan_locations` says which scans did.",
    )
    op.create_index(op.f("ix_locations_blob_id"), "locations", ["blob_id"], unique=False)
    op.create_index(
        op.f("ix_locations_target_source"), "locations", ["target", "source"], unique=False
    )
    op.create_table(
        "scanned_blobs",
        sa.Column(
            "blob_id",
            sa.String(length=64),
            nullable=False,
            comment="Content id of the blob (git blob SHA-1 hex).",
        ),
        sa.Column(
            "ruleset_hash",
            sa.String(length=64),
            nullable=False,
            comment="Ruleset the blob was matched under.",
        ),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="Blob size in bytes."),
        sa.Column(
            "scanned_at", TIMESTAMP, nullable=False, comment="When the blob was matched (UTC)."
        ),
        sa.Column("scan_id", sa.Integer(), nullable=True, comment="Scan that matched the blob."),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_scanned_blobs_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("blob_id", "ruleset_hash", name=op.f("pk_scanned_blobs")),
        comment="Which blobs were matched under which ruleset, so a rescan reads only new blobs. A row here means the blob's matches (possibly none) are complete in `matches`.",
    )
    op.create_table(
        "matches",
        sa.Column("blob_id", sa.String(length=64), nullable=False, comment="Blob the hit is in."),
        sa.Column(
            "ruleset_hash",
            sa.String(length=64),
            nullable=False,
            comment="Ruleset the blob was matched under.",
        ),
        sa.Column(
            "rule_id", sa.String(length=200), nullable=False, comment="Rule that confirmed the hit."
        ),
        sa.Column(
            "byte_start",
            sa.BigInteger(),
            nullable=False,
            comment="Offset of the secret's first byte in the blob.",
        ),
        sa.Column(
            "byte_end",
            sa.BigInteger(),
            nullable=False,
            comment="Offset just past the secret's last byte.",
        ),
        sa.Column(
            "finding_id",
            sa.String(length=16),
            nullable=False,
            comment="Finding this hit belongs to (derived from rule_id and fingerprint).",
        ),
        sa.Column(
            "fingerprint",
            sa.String(length=64),
            nullable=False,
            comment="Keyed hash of the secret (never the secret).",
        ),
        sa.Column(
            "preview",
            sa.String(length=200),
            nullable=False,
            comment="Redacted preview of the secret.",
        ),
        sa.Column(
            "line", sa.Integer(), nullable=False, comment="1-based line of the secret, for display."
        ),
        sa.Column(
            "col",
            sa.Integer(),
            nullable=False,
            comment="1-based column of the secret, for display.",
        ),
        sa.Column(
            "pair_fingerprints",
            JSON_DOC,
            nullable=False,
            comment="JSON list of fingerprints of paired parts (e.g. key id + secret) in the same blob.",
        ),
        sa.Column(
            "decoded",
            sa.String(length=200),
            nullable=True,
            comment="Decode route that exposed the secret, e.g. 'base64'.",
        ),
        sa.ForeignKeyConstraint(
            ["blob_id", "ruleset_hash"],
            ["scanned_blobs.blob_id", "scanned_blobs.ruleset_hash"],
            name=op.f("fk_matches_blob_id_ruleset_hash_scanned_blobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name=op.f("fk_matches_finding_id_findings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "blob_id", "ruleset_hash", "rule_id", "byte_start", "byte_end", name=op.f("pk_matches")
        ),
        comment="Confirmed hits in each blob matched under a ruleset. Never holds the raw secret.",
    )
    op.create_index(op.f("ix_matches_finding_id"), "matches", ["finding_id"], unique=False)
    op.create_table(
        "scan_locations",
        sa.Column("scan_id", sa.Integer(), nullable=False, comment="Scan that saw the place."),
        sa.Column(
            "blob_id",
            sa.String(length=64),
            nullable=False,
            comment="Blob at the place (copied from locations so 'was this blob seen in scan N' "
            "is one index lookup).",
        ),
        sa.Column("loc_key", sa.String(length=32), nullable=False, comment="Place seen."),
        sa.ForeignKeyConstraint(
            ["loc_key"],
            ["locations.loc_key"],
            name=op.f("fk_scan_locations_loc_key_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_scan_locations_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scan_id", "blob_id", "loc_key", name=op.f("pk_scan_locations")),
        comment="Which scans saw which places (a rescan of git history carries old places forward).",
        sqlite_with_rowid=False,
    )
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.bulk_insert(
        meta,
        [{"key": "created_at", "value": datetime.now(UTC).isoformat(timespec="seconds")}],
    )


def downgrade() -> None:
    op.drop_table("scan_locations")
    op.drop_index(op.f("ix_matches_finding_id"), table_name="matches")
    op.drop_table("matches")
    op.drop_table("scanned_blobs")
    op.drop_index(op.f("ix_locations_target_source"), table_name="locations")
    op.drop_index(op.f("ix_locations_blob_id"), table_name="locations")
    op.drop_table("locations")
    op.drop_table("findings")
    op.drop_table("walked_commits")
    op.drop_table("scans")
    op.drop_table("meta")
