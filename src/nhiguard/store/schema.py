"""The store's schema, declared once: every table, column, key and index, each with a comment.

This module is the single source of truth for the shape of the database. Migrations in
`store/migrations/versions/` are frozen snapshots of it; a test compares the migrated
database against this MetaData (Alembic `compare_metadata`) so the two cannot drift.

Portability rules (SQLite is the default, PostgreSQL serves team inventories):
- only generic types; JSON becomes JSONB on PostgreSQL so it can be compared and indexed;
- timestamps are `UTCDateTime`: timezone-aware UTC datetimes in Python on every backend;
- no column is named after an SQL keyword (`commit`, `end`, `column`), so hand-written SQL
  against the store (reports, the web UI, a user's psql session) needs no quoting.

Secrets are radioactive: no column holds a raw secret. A secret is represented only by its
keyed fingerprint and its redacted preview, exactly as `model.Match` carries them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from nhiguard.store.migrate import VERSION_TABLE  # noqa: F401 - declared beside the revisions

# Deterministic constraint names: Alembic's batch mode (SQLite ALTERs) needs names to find
# constraints again, and PostgreSQL reports them in errors.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always a timezone-aware UTC datetime on the Python side.

    PostgreSQL stores it as `timestamptz`; SQLite (which has no time zones) stores the UTC
    wall-clock time, and the zone is put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONDocType(TypeDecorator[Any]):
    """JSON documents; JSONB on PostgreSQL (comparable, indexable), JSON text elsewhere.

    The PostgreSQL type is looked up only when a PostgreSQL connection asks for it, so that
    an SQLite store never imports SQLAlchemy's PostgreSQL dialect (a tenth of start-up)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


JSONDoc = JSONDocType()

# Lengths: blob ids are git SHA-1 hex (40) but leave room for SHA-256 repositories (64);
# fingerprints are 32 hex today, 64 leaves room for a longer keyed hash.
BLOB_ID = String(64)
FINGERPRINT = String(64)
HASH = String(64)
RULE_ID = String(200)


meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True, comment="Setting name, e.g. 'created_at'."),
    Column("value", Text, nullable=False, comment="Setting value as text."),
    comment="Facts about the store itself (creation time, the nhiguard version that created it).",
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, comment="Scan number, increasing."),
    Column("started_at", UTCDateTime, nullable=False, comment="When the scan began (UTC)."),
    Column(
        "finished_at",
        UTCDateTime,
        nullable=True,
        comment="When the scan finished (UTC); NULL while running or if it crashed.",
    ),
    Column(
        "targets", JSONDoc, nullable=False, comment="JSON list of the targets as given by the user."
    ),
    Column(
        "ruleset_hash",
        HASH,
        nullable=False,
        comment="Hash of the rules and filters in force; results are valid only under it.",
    ),
    Column("engine", String(100), nullable=False, comment="Matching engine, e.g. 'hyperscan'."),
    Column(
        "bytes_scanned",
        BigInteger,
        nullable=False,
        default=0,
        comment="Bytes read and matched in this scan.",
    ),
    Column(
        "blobs_scanned",
        Integer,
        nullable=False,
        default=0,
        comment="Distinct blobs matched in this scan.",
    ),
    Column(
        "blobs_seen",
        Integer,
        nullable=False,
        default=0,
        comment="Distinct blobs met by this scan, whether matched now or reused from the store.",
    ),
    Column(
        "blobs_reused",
        Integer,
        nullable=False,
        default=0,
        comment="Distinct blobs whose results came from an earlier scan (incremental scanning).",
    ),
    Column(
        "errors",
        JSONDoc,
        nullable=False,
        comment="JSON list of {path, message, kind} for input not read: kind 'error' or 'skipped'.",
    ),
    comment="One row per run of `nhiguard scan`.",
)

scanned_blobs = Table(
    "scanned_blobs",
    metadata,
    Column(
        "blob_id", BLOB_ID, nullable=False, comment="Content id of the blob (git blob SHA-1 hex)."
    ),
    Column("ruleset_hash", HASH, nullable=False, comment="Ruleset the blob was matched under."),
    Column("size", BigInteger, nullable=False, comment="Blob size in bytes."),
    Column("scanned_at", UTCDateTime, nullable=False, comment="When the blob was matched (UTC)."),
    Column(
        "scan_id",
        Integer,
        ForeignKey("scans.id", ondelete="SET NULL"),
        nullable=True,
        comment="Scan that matched the blob.",
    ),
    PrimaryKeyConstraint("blob_id", "ruleset_hash"),
    comment=(
        "Which blobs were matched under which ruleset, so a rescan reads only new blobs. "
        "A row here means the blob's matches (possibly none) are complete in `matches`."
    ),
)

findings = Table(
    "findings",
    metadata,
    Column(
        "id",
        String(16),
        primary_key=True,
        comment="First 16 hex of sha256(rule_id + ':' + fingerprint); stable across rescans.",
    ),
    Column("rule_id", RULE_ID, nullable=False, comment="Rule that found the secret."),
    Column(
        "rule_name",
        String(300),
        nullable=False,
        comment="Rule's name when last seen (used if the rule is gone).",
    ),
    Column(
        "kind",
        String(100),
        nullable=False,
        comment="NHI kind the secret reveals, e.g. 'aws_access_key'.",
    ),
    Column(
        "provider", String(100), nullable=False, comment="Provider of the identity, e.g. 'aws'."
    ),
    Column(
        "severity",
        String(16),
        nullable=False,
        comment="Rule's severity when last seen: info..critical.",
    ),
    Column(
        "fingerprint",
        FINGERPRINT,
        nullable=False,
        comment="Keyed hash of the secret (never the secret).",
    ),
    Column(
        "preview",
        String(200),
        nullable=False,
        comment="Redacted preview of the secret, safe to show.",
    ),
    Column(
        "first_seen",
        UTCDateTime,
        nullable=False,
        comment="Start of the first scan that found it (UTC).",
    ),
    Column(
        "last_seen",
        UTCDateTime,
        nullable=False,
        comment="Start of the last scan that found it (UTC).",
    ),
    Column(
        "first_scan_id",
        Integer,
        ForeignKey("scans.id", ondelete="SET NULL"),
        nullable=True,
        comment="Scan that first found it.",
    ),
    Column(
        "last_scan_id",
        Integer,
        ForeignKey("scans.id", ondelete="SET NULL"),
        nullable=True,
        comment="Last scan that found it.",
    ),
    Column(
        "status",
        String(32),
        nullable=False,
        default="open",
        server_default="open",
        comment="Triage status: open, false_positive, accepted, revoked, fixed.",
    ),
    Column("status_by", String(200), nullable=True, comment="Who set the status last."),
    Column("status_at", UTCDateTime, nullable=True, comment="When the status was set last (UTC)."),
    Column("status_reason", Text, nullable=True, comment="Why the status was set, free text."),
    UniqueConstraint("rule_id", "fingerprint"),
    comment="One row per secret per rule (rule_id, fingerprint); triage lives here and survives rescans.",
)

matches = Table(
    "matches",
    metadata,
    Column("blob_id", BLOB_ID, nullable=False, comment="Blob the hit is in."),
    Column("ruleset_hash", HASH, nullable=False, comment="Ruleset the blob was matched under."),
    Column("rule_id", RULE_ID, nullable=False, comment="Rule that confirmed the hit."),
    Column(
        "byte_start",
        BigInteger,
        nullable=False,
        comment="Offset of the secret's first byte in the blob.",
    ),
    Column(
        "byte_end", BigInteger, nullable=False, comment="Offset just past the secret's last byte."
    ),
    Column(
        "finding_id",
        String(16),
        ForeignKey("findings.id", ondelete="CASCADE"),
        nullable=False,
        comment="Finding this hit belongs to (derived from rule_id and fingerprint).",
    ),
    Column(
        "fingerprint",
        FINGERPRINT,
        nullable=False,
        comment="Keyed hash of the secret (never the secret).",
    ),
    Column("preview", String(200), nullable=False, comment="Redacted preview of the secret."),
    Column("line", Integer, nullable=False, comment="1-based line of the secret, for display."),
    Column("col", Integer, nullable=False, comment="1-based column of the secret, for display."),
    Column(
        "pair_fingerprints",
        JSONDoc,
        nullable=False,
        comment="JSON list of fingerprints of paired parts (e.g. key id + secret) in the same blob.",
    ),
    Column(
        "decoded",
        String(200),
        nullable=False,
        server_default="",
        comment="Decode route that exposed the secret, e.g. 'base64'; '' when it was read as it "
        "stands.",
    ),
    Column(
        "step",
        String(300),
        nullable=True,
        comment="CI logs: the step of the job that printed the line (a GitLab section, a "
        "GitHub Actions step); NULL elsewhere.",
    ),
    # Two archive members can hold secrets at the same offsets of their own: the secret and
    # the route are part of what tells one match from another.
    PrimaryKeyConstraint(
        "blob_id", "ruleset_hash", "rule_id", "byte_start", "byte_end", "fingerprint", "decoded"
    ),
    ForeignKeyConstraint(
        ["blob_id", "ruleset_hash"],
        ["scanned_blobs.blob_id", "scanned_blobs.ruleset_hash"],
        ondelete="CASCADE",
    ),
    Index(None, "finding_id"),
    comment="Confirmed hits in each blob matched under a ruleset. Never holds the raw secret.",
)

locations = Table(
    "locations",
    metadata,
    Column(
        "loc_key",
        String(32),
        primary_key=True,
        comment="Hash of (target, blob_id, fields): one row per distinct place, shared by scans.",
    ),
    Column(
        "target",
        Text,
        nullable=False,
        comment="Target as given by the user (path, repository, image).",
    ),
    Column("blob_id", BLOB_ID, nullable=False, comment="Blob seen at this place."),
    Column(
        "source", String(32), nullable=False, comment="Provenance tag: file, git, stdin, image, ..."
    ),
    Column(
        "path", Text, nullable=True, comment="Path of the blob (NULL for an unreachable git blob)."
    ),
    Column(
        "commit_sha",
        String(64),
        nullable=True,
        comment="Git commit that introduced the blob at path.",
    ),
    Column(
        "fields",
        JSONDoc,
        nullable=False,
        comment="JSON of the provenance's as_location() fields, keys sorted.",
    ),
    Column(
        "first_scan_id",
        Integer,
        ForeignKey("scans.id", ondelete="SET NULL"),
        nullable=True,
        comment="Scan that first recorded this place.",
    ),
    Index(None, "blob_id"),
    Index(None, "target", "source"),
    comment=(
        "Places where blobs were seen (a provenance of a match), stored once however many "
        "scans see them; `scan_locations` says which scans did."
    ),
)

scan_locations = Table(
    "scan_locations",
    metadata,
    Column(
        "scan_id",
        Integer,
        ForeignKey("scans.id", ondelete="CASCADE"),
        nullable=False,
        comment="Scan that saw the place.",
    ),
    Column(
        "blob_id",
        BLOB_ID,
        nullable=False,
        comment="Blob at the place (copied from locations so 'was this blob seen in scan N' "
        "is one index lookup).",
    ),
    Column(
        "loc_key",
        String(32),
        ForeignKey("locations.loc_key", ondelete="CASCADE"),
        nullable=False,
        comment="Place seen.",
    ),
    # loc_key determines blob_id, so this key is unique per (scan, place) as well.
    PrimaryKeyConstraint("scan_id", "blob_id", "loc_key"),
    # Small rows read by key ranges: the table is its own index on SQLite.
    sqlite_with_rowid=False,
    comment="Which scans saw which places (a rescan of git history carries old places forward).",
)

walked_commits = Table(
    "walked_commits",
    metadata,
    Column(
        "repo_key",
        Text,
        nullable=False,
        comment="Identity of a repository (e.g. its resolved path or URL).",
    ),
    Column(
        "commit_sha", String(64), nullable=False, comment="Commit whose tree changes were walked."
    ),
    Column("walked_at", UTCDateTime, nullable=False, comment="When it was walked (UTC)."),
    PrimaryKeyConstraint("repo_key", "commit_sha"),
    comment="Commits already walked per repository, so a rescan walks only new history.",
)

git_walks = Table(
    "git_walks",
    metadata,
    Column(
        "walk_key",
        Text,
        primary_key=True,
        comment="Repository and ruleset of the walk (the key of walked_commits).",
    ),
    Column(
        "scan_id",
        Integer,
        ForeignKey("scans.id", ondelete="SET NULL"),
        nullable=True,
        comment="The last scan that walked the repository's whole history under the ruleset; "
        "the next incremental scan carries its git places forward.",
    ),
    Column(
        "tips",
        JSONDoc,
        nullable=False,
        comment="Ref name -> commit id at that walk, to tell a rewrite from new commits.",
    ),
    Column("walked_at", UTCDateTime, nullable=False, comment="When it was walked (UTC)."),
    comment="The last history walk per repository and ruleset.",
)

image_layers = Table(
    "image_layers",
    metadata,
    Column(
        "layer_digest",
        String(140),
        nullable=False,
        comment="Digest of a container image layer (its blob, or its diff id in a docker save "
        "archive): a content id, the same in every image and tag that has the layer.",
    ),
    Column(
        "key_id",
        HASH,
        nullable=False,
        comment="Which fingerprint key the blob ids below are keyed with.",
    ),
    Column(
        "entries",
        Text,
        nullable=False,
        comment="JSON list of the layer's entries: [path, kind, keyed blob id or null, size], "
        "kind one of file, dir, other, whiteout, opaque. Paths and keyed ids only, no content.",
    ),
    Column("files", Integer, nullable=False, comment="Regular files in the layer."),
    Column("recorded_at", UTCDateTime, nullable=False, comment="When the layer was read (UTC)."),
    PrimaryKeyConstraint("layer_digest", "key_id"),
    comment="What each image layer holds, so a layer scanned before (in any image or tag) is "
    "neither downloaded nor decompressed again while its files' results are in the store.",
)

verifications = Table(
    "verifications",
    metadata,
    Column(
        "finding_id",
        String(16),
        ForeignKey("findings.id", ondelete="CASCADE"),
        primary_key=True,
        comment="Finding whose secret was verified (its value is never stored).",
    ),
    Column("provider", String(64), nullable=False, comment="Verifier that answered, e.g. 'github'."),
    Column("status", String(16), nullable=False, comment="live, revoked, unknown or error."),
    Column(
        "identity",
        JSONDoc,
        nullable=False,
        comment="What the provider said about the identity (account, user, scopes); no secret.",
    ),
    Column("message", Text, nullable=False, comment="Why the status, in words; no secret."),
    Column("checked_at", UTCDateTime, nullable=False, comment="When it was verified (UTC)."),
    comment="The last live verification of each finding, reused for a while (verify_ttl).",
)

identities = Table(
    "identities",
    metadata,
    Column("id", String(16), primary_key=True,
           comment="16 hex of sha256 over provider, kind and external id (model.identity_id)."),
    Column("provider", String(64), nullable=False, comment="aws, gcp, azure, kubernetes, github, ..."),
    Column("kind", String(64), nullable=False,
           comment="aws_iam_user, aws_access_key, aws_iam_role, gcp_service_account_key, k8s_sa_token, ..."),
    Column("external_id", Text, nullable=False,
           comment="The provider's id (ARN, access key id, e-mail, namespace/name); never a secret."),
    Column("name", Text, nullable=False, comment="Display name."),
    Column("account", String(200), nullable=False,
           comment="AWS account, GCP project, Azure tenant, cluster or GitHub organisation; '' if unknown."),
    Column("parent_id", String(16), nullable=True,
           comment="For a credential: the identity (principal) it belongs to."),
    Column("owner", String(200), nullable=True, comment="Owner set by hand (`inventory own`); others are derived."),
    Column("owner_set_by", String(200), nullable=True, comment="Who set the owner by hand."),
    Column("purpose", Text, nullable=True, comment="What the identity is for, when an export or a person says."),
    Column("environment", String(64), nullable=True, comment="Environment from tags or set by hand."),
    Column("created", UTCDateTime, nullable=True, comment="Created (UTC)."),
    Column("expires", UTCDateTime, nullable=True, comment="Expires (UTC); NULL: never, or not known."),
    Column("last_used", UTCDateTime, nullable=True, comment="Last used (UTC) as the provider reports it."),
    Column("last_rotated", UTCDateTime, nullable=True, comment="Last rotated (UTC)."),
    Column("status", String(32), nullable=False, comment="active, inactive, disabled, expired, suspended."),
    Column("privileges", JSONDoc, nullable=False, comment="JSON list of short privilege names (policies, roles, scopes)."),
    Column("grants", JSONDoc, nullable=False,
           comment="JSON list of permission statements: {actions, resources, source, effect, ...}."),
    Column("tags", JSONDoc, nullable=False, comment="JSON object of the provider's tags or labels."),
    Column("attributes", JSONDoc, nullable=False, comment="JSON object of what else the export says."),
    Column("link_fingerprint", FINGERPRINT, nullable=True,
           comment="Keyed fingerprint of the external id as a scan would record it (AWS key ids), "
           "to link leaked copies to the identity."),
    Column("sources", JSONDoc, nullable=False, comment="JSON list of the imports that described it."),
    Column("first_imported", UTCDateTime, nullable=False, comment="First imported (UTC)."),
    Column("last_imported", UTCDateTime, nullable=False, comment="Last imported (UTC)."),
    Index("ix_identities_link_fingerprint", "link_fingerprint"),
    Index("ix_identities_parent_id", "parent_id"),
    comment="Non-human identities from providers' inventories (IAM, service accounts, tokens).",
)

watch_profiles = Table(
    "watch_profiles",
    metadata,
    Column("identity", String(600), primary_key=True,
           comment="The identity key events are attributed to (aws:AKIA..., aws:<role ARN>, k8s:<user>, ...)."),
    Column("profile", JSONDoc, nullable=False,
           comment="What the identity normally does: countries, networks, clients, actions, hours, volumes."),
    Column("events", BigInteger, nullable=False, comment="Events learned into the profile."),
    Column("first_seen", UTCDateTime, nullable=False, comment="Its first event (UTC)."),
    Column("last_seen", UTCDateTime, nullable=False, comment="Its latest event (UTC)."),
    Column("updated_at", UTCDateTime, nullable=False, comment="When the profile was last saved (UTC)."),
    comment="Per-identity behaviour baselines learned by `nhiguard watch` from audit logs.",
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(16), primary_key=True,
           comment="16 hex of sha256 over detector, identity and subject: repeats are one alert."),
    Column("detector", String(64), nullable=False, comment="The detector that raised it, e.g. watch.new-country."),
    Column("identity", String(600), nullable=False, comment="The identity key of the events."),
    Column("inventory_id", String(80), nullable=True, comment="The inventory identity it resolved to, if any."),
    Column("identity_name", Text, nullable=False, comment="A readable name of the identity."),
    Column("human", String(16), nullable=False, comment="non-human, human or unknown."),
    Column("severity", String(16), nullable=False, comment="info, low, medium, high or critical."),
    Column("status", String(32), nullable=False, comment="open, acknowledged, false_positive or resolved."),
    Column("first_seen", UTCDateTime, nullable=False, comment="Time of its first event (UTC)."),
    Column("last_seen", UTCDateTime, nullable=False, comment="Time of its latest event (UTC)."),
    Column("count", BigInteger, nullable=False, comment="Events that raised it."),
    Column("suppressed", BigInteger, nullable=False, comment="Other alerts of the identity held back by the rate limit."),
    Column("summary", Text, nullable=False, comment="What was seen; no secret."),
    Column("baseline", Text, nullable=False, comment="What the identity normally does."),
    Column("evidence", JSONDoc, nullable=False, comment="JSON object of names and figures; no secret."),
    Column("events", JSONDoc, nullable=False, comment="JSON list of where the first events are (file:line)."),
    Column("owasp", JSONDoc, nullable=False, comment="JSON list of OWASP NHI Top 10 ids."),
    Column("attack", JSONDoc, nullable=False, comment="JSON list of MITRE ATT&CK technique ids."),
    Column("decided_by", String(200), nullable=True, comment="Who set the status."),
    Column("decided_at", UTCDateTime, nullable=True, comment="When the status was set (UTC)."),
    Column("reason", Text, nullable=True, comment="Why the status was set."),
    Column("created_at", UTCDateTime, nullable=False, comment="When the alert was first stored (UTC)."),
    Index("ix_alerts_identity", "identity"),
    Index("ix_alerts_status", "status"),
    comment="Alerts raised by `nhiguard watch`, deduplicated, with their triage.",
)

watch_inputs = Table(
    "watch_inputs",
    metadata,
    Column("head", String(64), primary_key=True,
           comment="sha256 of the file's first 64 KiB: the same log file wherever it is."),
    Column("name", Text, nullable=False, comment="Where it was last read from."),
    Column("size_read", BigInteger, nullable=False, comment="Bytes read so far."),
    Column("tail", String(64), nullable=False,
           comment="sha256 of the 64 KiB before size_read: an appended file resumes, a rewritten one is read again."),
    Column("events", BigInteger, nullable=False, comment="Events read from it in all."),
    Column("read_at", UTCDateTime, nullable=False, comment="When it was last read (UTC)."),
    comment="Log files `nhiguard watch` has read, so a rerun reads only what is new.",
)

token_hashes = Table(
    "token_hashes",
    metadata,
    Column("digest", String(64), primary_key=True,
           comment="base64 SHA-256 of a GitHub token a scan found: the hashed_token GitHub's audit log records."),
    Column("finding_id", String(16), nullable=False, comment="The finding of the token."),
    comment="Audit-log digests of found tokens, so `nhiguard watch` can tie a token's use to its leak.",
)
