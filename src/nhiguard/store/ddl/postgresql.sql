CREATE TABLE meta (
	key VARCHAR(100) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_meta PRIMARY KEY (key)
);

COMMENT ON TABLE meta IS 'Facts about the store itself (creation time, the nhiguard version that created it).';

COMMENT ON COLUMN meta.key IS 'Setting name, e.g. ''created_at''.';

COMMENT ON COLUMN meta.value IS 'Setting value as text.';

CREATE TABLE scans (
	id SERIAL NOT NULL, 
	started_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	finished_at TIMESTAMP WITH TIME ZONE, 
	targets JSONB NOT NULL, 
	ruleset_hash VARCHAR(64) NOT NULL, 
	engine VARCHAR(100) NOT NULL, 
	bytes_scanned BIGINT NOT NULL, 
	blobs_scanned INTEGER NOT NULL, 
	blobs_seen INTEGER NOT NULL, 
	blobs_reused INTEGER NOT NULL, 
	errors JSONB NOT NULL, 
	CONSTRAINT pk_scans PRIMARY KEY (id)
);

COMMENT ON TABLE scans IS 'One row per run of `nhiguard scan`.';

COMMENT ON COLUMN scans.id IS 'Scan number, increasing.';

COMMENT ON COLUMN scans.started_at IS 'When the scan began (UTC).';

COMMENT ON COLUMN scans.finished_at IS 'When the scan finished (UTC); NULL while running or if it crashed.';

COMMENT ON COLUMN scans.targets IS 'JSON list of the targets as given by the user.';

COMMENT ON COLUMN scans.ruleset_hash IS 'Hash of the rules and filters in force; results are valid only under it.';

COMMENT ON COLUMN scans.engine IS 'Matching engine, e.g. ''hyperscan''.';

COMMENT ON COLUMN scans.bytes_scanned IS 'Bytes read and matched in this scan.';

COMMENT ON COLUMN scans.blobs_scanned IS 'Distinct blobs matched in this scan.';

COMMENT ON COLUMN scans.blobs_seen IS 'Distinct blobs met by this scan, whether matched now or reused from the store.';

COMMENT ON COLUMN scans.blobs_reused IS 'Distinct blobs whose results came from an earlier scan (incremental scanning).';

COMMENT ON COLUMN scans.errors IS 'JSON list of {path, message, kind} for input not read: kind ''error'' or ''skipped''.';

CREATE TABLE walked_commits (
	repo_key TEXT NOT NULL, 
	commit_sha VARCHAR(64) NOT NULL, 
	walked_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_walked_commits PRIMARY KEY (repo_key, commit_sha)
);

COMMENT ON TABLE walked_commits IS 'Commits already walked per repository, so a rescan walks only new history.';

COMMENT ON COLUMN walked_commits.repo_key IS 'Identity of a repository (e.g. its resolved path or URL).';

COMMENT ON COLUMN walked_commits.commit_sha IS 'Commit whose tree changes were walked.';

COMMENT ON COLUMN walked_commits.walked_at IS 'When it was walked (UTC).';

CREATE TABLE image_layers (
	layer_digest VARCHAR(140) NOT NULL, 
	key_id VARCHAR(64) NOT NULL, 
	entries TEXT NOT NULL, 
	files INTEGER NOT NULL, 
	recorded_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_image_layers PRIMARY KEY (layer_digest, key_id)
);

COMMENT ON TABLE image_layers IS 'What each image layer holds, so a layer scanned before (in any image or tag) is neither downloaded nor decompressed again while its files'' results are in the store.';

COMMENT ON COLUMN image_layers.layer_digest IS 'Digest of a container image layer (its blob, or its diff id in a docker save archive): a content id, the same in every image and tag that has the layer.';

COMMENT ON COLUMN image_layers.key_id IS 'Which fingerprint key the blob ids below are keyed with.';

COMMENT ON COLUMN image_layers.entries IS 'JSON list of the layer''s entries: [path, kind, keyed blob id or null, size], kind one of file, dir, other, whiteout, opaque. Paths and keyed ids only, no content.';

COMMENT ON COLUMN image_layers.files IS 'Regular files in the layer.';

COMMENT ON COLUMN image_layers.recorded_at IS 'When the layer was read (UTC).';

CREATE TABLE identities (
	id VARCHAR(16) NOT NULL, 
	provider VARCHAR(64) NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	external_id TEXT NOT NULL, 
	name TEXT NOT NULL, 
	account VARCHAR(200) NOT NULL, 
	parent_id VARCHAR(16), 
	owner VARCHAR(200), 
	owner_set_by VARCHAR(200), 
	purpose TEXT, 
	environment VARCHAR(64), 
	created TIMESTAMP WITH TIME ZONE, 
	expires TIMESTAMP WITH TIME ZONE, 
	last_used TIMESTAMP WITH TIME ZONE, 
	last_rotated TIMESTAMP WITH TIME ZONE, 
	status VARCHAR(32) NOT NULL, 
	privileges JSONB NOT NULL, 
	grants JSONB NOT NULL, 
	tags JSONB NOT NULL, 
	attributes JSONB NOT NULL, 
	link_fingerprint VARCHAR(64), 
	sources JSONB NOT NULL, 
	first_imported TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_imported TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_identities PRIMARY KEY (id)
);

CREATE INDEX ix_identities_link_fingerprint ON identities (link_fingerprint);

CREATE INDEX ix_identities_parent_id ON identities (parent_id);

COMMENT ON TABLE identities IS 'Non-human identities from providers'' inventories (IAM, service accounts, tokens).';

COMMENT ON COLUMN identities.id IS '16 hex of sha256 over provider, kind and external id (model.identity_id).';

COMMENT ON COLUMN identities.provider IS 'aws, gcp, azure, kubernetes, github, ...';

COMMENT ON COLUMN identities.kind IS 'aws_iam_user, aws_access_key, aws_iam_role, gcp_service_account_key, k8s_sa_token, ...';

COMMENT ON COLUMN identities.external_id IS 'The provider''s id (ARN, access key id, e-mail, namespace/name); never a secret.';

COMMENT ON COLUMN identities.name IS 'Display name.';

COMMENT ON COLUMN identities.account IS 'AWS account, GCP project, Azure tenant, cluster or GitHub organisation; '''' if unknown.';

COMMENT ON COLUMN identities.parent_id IS 'For a credential: the identity (principal) it belongs to.';

COMMENT ON COLUMN identities.owner IS 'Owner set by hand (`inventory own`); others are derived.';

COMMENT ON COLUMN identities.owner_set_by IS 'Who set the owner by hand.';

COMMENT ON COLUMN identities.purpose IS 'What the identity is for, when an export or a person says.';

COMMENT ON COLUMN identities.environment IS 'Environment from tags or set by hand.';

COMMENT ON COLUMN identities.created IS 'Created (UTC).';

COMMENT ON COLUMN identities.expires IS 'Expires (UTC); NULL: never, or not known.';

COMMENT ON COLUMN identities.last_used IS 'Last used (UTC) as the provider reports it.';

COMMENT ON COLUMN identities.last_rotated IS 'Last rotated (UTC).';

COMMENT ON COLUMN identities.status IS 'active, inactive, disabled, expired, suspended.';

COMMENT ON COLUMN identities.privileges IS 'JSON list of short privilege names (policies, roles, scopes).';

COMMENT ON COLUMN identities.grants IS 'JSON list of permission statements: {actions, resources, source, effect, ...}.';

COMMENT ON COLUMN identities.tags IS 'JSON object of the provider''s tags or labels.';

COMMENT ON COLUMN identities.attributes IS 'JSON object of what else the export says.';

COMMENT ON COLUMN identities.link_fingerprint IS 'Keyed fingerprint of the external id as a scan would record it (AWS key ids), to link leaked copies to the identity.';

COMMENT ON COLUMN identities.sources IS 'JSON list of the imports that described it.';

COMMENT ON COLUMN identities.first_imported IS 'First imported (UTC).';

COMMENT ON COLUMN identities.last_imported IS 'Last imported (UTC).';

CREATE TABLE watch_profiles (
	identity VARCHAR(600) NOT NULL, 
	profile JSONB NOT NULL, 
	events BIGINT NOT NULL, 
	first_seen TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_seen TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_watch_profiles PRIMARY KEY (identity)
);

COMMENT ON TABLE watch_profiles IS 'Per-identity behaviour baselines learned by `nhiguard watch` from audit logs.';

COMMENT ON COLUMN watch_profiles.identity IS 'The identity key events are attributed to (aws:AKIA..., aws:<role ARN>, k8s:<user>, ...).';

COMMENT ON COLUMN watch_profiles.profile IS 'What the identity normally does: countries, networks, clients, actions, hours, volumes.';

COMMENT ON COLUMN watch_profiles.events IS 'Events learned into the profile.';

COMMENT ON COLUMN watch_profiles.first_seen IS 'Its first event (UTC).';

COMMENT ON COLUMN watch_profiles.last_seen IS 'Its latest event (UTC).';

COMMENT ON COLUMN watch_profiles.updated_at IS 'When the profile was last saved (UTC).';

CREATE TABLE alerts (
	id VARCHAR(16) NOT NULL, 
	detector VARCHAR(64) NOT NULL, 
	identity VARCHAR(600) NOT NULL, 
	inventory_id VARCHAR(80), 
	identity_name TEXT NOT NULL, 
	human VARCHAR(16) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	first_seen TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_seen TIMESTAMP WITH TIME ZONE NOT NULL, 
	count BIGINT NOT NULL, 
	suppressed BIGINT NOT NULL, 
	summary TEXT NOT NULL, 
	baseline TEXT NOT NULL, 
	evidence JSONB NOT NULL, 
	events JSONB NOT NULL, 
	owasp JSONB NOT NULL, 
	attack JSONB NOT NULL, 
	decided_by VARCHAR(200), 
	decided_at TIMESTAMP WITH TIME ZONE, 
	reason TEXT, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_alerts PRIMARY KEY (id)
);

CREATE INDEX ix_alerts_identity ON alerts (identity);

CREATE INDEX ix_alerts_status ON alerts (status);

COMMENT ON TABLE alerts IS 'Alerts raised by `nhiguard watch`, deduplicated, with their triage.';

COMMENT ON COLUMN alerts.id IS '16 hex of sha256 over detector, identity and subject: repeats are one alert.';

COMMENT ON COLUMN alerts.detector IS 'The detector that raised it, e.g. watch.new-country.';

COMMENT ON COLUMN alerts.identity IS 'The identity key of the events.';

COMMENT ON COLUMN alerts.inventory_id IS 'The inventory identity it resolved to, if any.';

COMMENT ON COLUMN alerts.identity_name IS 'A readable name of the identity.';

COMMENT ON COLUMN alerts.human IS 'non-human, human or unknown.';

COMMENT ON COLUMN alerts.severity IS 'info, low, medium, high or critical.';

COMMENT ON COLUMN alerts.status IS 'open, acknowledged, false_positive or resolved.';

COMMENT ON COLUMN alerts.first_seen IS 'Time of its first event (UTC).';

COMMENT ON COLUMN alerts.last_seen IS 'Time of its latest event (UTC).';

COMMENT ON COLUMN alerts.count IS 'Events that raised it.';

COMMENT ON COLUMN alerts.suppressed IS 'Other alerts of the identity held back by the rate limit.';

COMMENT ON COLUMN alerts.summary IS 'What was seen; no secret.';

COMMENT ON COLUMN alerts.baseline IS 'What the identity normally does.';

COMMENT ON COLUMN alerts.evidence IS 'JSON object of names and figures; no secret.';

COMMENT ON COLUMN alerts.events IS 'JSON list of where the first events are (file:line).';

COMMENT ON COLUMN alerts.owasp IS 'JSON list of OWASP NHI Top 10 ids.';

COMMENT ON COLUMN alerts.attack IS 'JSON list of MITRE ATT&CK technique ids.';

COMMENT ON COLUMN alerts.decided_by IS 'Who set the status.';

COMMENT ON COLUMN alerts.decided_at IS 'When the status was set (UTC).';

COMMENT ON COLUMN alerts.reason IS 'Why the status was set.';

COMMENT ON COLUMN alerts.created_at IS 'When the alert was first stored (UTC).';

CREATE TABLE watch_inputs (
	head VARCHAR(64) NOT NULL, 
	name TEXT NOT NULL, 
	size_read BIGINT NOT NULL, 
	tail VARCHAR(64) NOT NULL, 
	events BIGINT NOT NULL, 
	read_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_watch_inputs PRIMARY KEY (head)
);

COMMENT ON TABLE watch_inputs IS 'Log files `nhiguard watch` has read, so a rerun reads only what is new.';

COMMENT ON COLUMN watch_inputs.head IS 'sha256 of the file''s first 64 KiB: the same log file wherever it is.';

COMMENT ON COLUMN watch_inputs.name IS 'Where it was last read from.';

COMMENT ON COLUMN watch_inputs.size_read IS 'Bytes read so far.';

COMMENT ON COLUMN watch_inputs.tail IS 'sha256 of the 64 KiB before size_read: an appended file resumes, a rewritten one is read again.';

COMMENT ON COLUMN watch_inputs.events IS 'Events read from it in all.';

COMMENT ON COLUMN watch_inputs.read_at IS 'When it was last read (UTC).';

CREATE TABLE token_hashes (
	digest VARCHAR(64) NOT NULL, 
	finding_id VARCHAR(16) NOT NULL, 
	CONSTRAINT pk_token_hashes PRIMARY KEY (digest)
);

COMMENT ON TABLE token_hashes IS 'Audit-log digests of found tokens, so `nhiguard watch` can tie a token''s use to its leak.';

COMMENT ON COLUMN token_hashes.digest IS 'base64 SHA-256 of a GitHub token a scan found: the hashed_token GitHub''s audit log records.';

COMMENT ON COLUMN token_hashes.finding_id IS 'The finding of the token.';

CREATE TABLE scanned_blobs (
	blob_id VARCHAR(64) NOT NULL, 
	ruleset_hash VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	scanned_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	scan_id INTEGER, 
	CONSTRAINT pk_scanned_blobs PRIMARY KEY (blob_id, ruleset_hash), 
	CONSTRAINT fk_scanned_blobs_scan_id_scans FOREIGN KEY(scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

COMMENT ON TABLE scanned_blobs IS 'Which blobs were matched under which ruleset, so a rescan reads only new blobs. A row here means the blob''s matches (possibly none) are complete in `matches`.';

COMMENT ON COLUMN scanned_blobs.blob_id IS 'Content id of the blob (git blob SHA-1 hex).';

COMMENT ON COLUMN scanned_blobs.ruleset_hash IS 'Ruleset the blob was matched under.';

COMMENT ON COLUMN scanned_blobs.size IS 'Blob size in bytes.';

COMMENT ON COLUMN scanned_blobs.scanned_at IS 'When the blob was matched (UTC).';

COMMENT ON COLUMN scanned_blobs.scan_id IS 'Scan that matched the blob.';

CREATE TABLE findings (
	id VARCHAR(16) NOT NULL, 
	rule_id VARCHAR(200) NOT NULL, 
	rule_name VARCHAR(300) NOT NULL, 
	kind VARCHAR(100) NOT NULL, 
	provider VARCHAR(100) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	preview VARCHAR(200) NOT NULL, 
	first_seen TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_seen TIMESTAMP WITH TIME ZONE NOT NULL, 
	first_scan_id INTEGER, 
	last_scan_id INTEGER, 
	status VARCHAR(32) DEFAULT 'open' NOT NULL, 
	status_by VARCHAR(200), 
	status_at TIMESTAMP WITH TIME ZONE, 
	status_reason TEXT, 
	CONSTRAINT pk_findings PRIMARY KEY (id), 
	CONSTRAINT uq_findings_rule_id_fingerprint UNIQUE (rule_id, fingerprint), 
	CONSTRAINT fk_findings_first_scan_id_scans FOREIGN KEY(first_scan_id) REFERENCES scans (id) ON DELETE SET NULL, 
	CONSTRAINT fk_findings_last_scan_id_scans FOREIGN KEY(last_scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

COMMENT ON TABLE findings IS 'One row per secret per rule (rule_id, fingerprint); triage lives here and survives rescans.';

COMMENT ON COLUMN findings.id IS 'First 16 hex of sha256(rule_id + '':'' + fingerprint); stable across rescans.';

COMMENT ON COLUMN findings.rule_id IS 'Rule that found the secret.';

COMMENT ON COLUMN findings.rule_name IS 'Rule''s name when last seen (used if the rule is gone).';

COMMENT ON COLUMN findings.kind IS 'NHI kind the secret reveals, e.g. ''aws_access_key''.';

COMMENT ON COLUMN findings.provider IS 'Provider of the identity, e.g. ''aws''.';

COMMENT ON COLUMN findings.severity IS 'Rule''s severity when last seen: info..critical.';

COMMENT ON COLUMN findings.fingerprint IS 'Keyed hash of the secret (never the secret).';

COMMENT ON COLUMN findings.preview IS 'Redacted preview of the secret, safe to show.';

COMMENT ON COLUMN findings.first_seen IS 'Start of the first scan that found it (UTC).';

COMMENT ON COLUMN findings.last_seen IS 'Start of the last scan that found it (UTC).';

COMMENT ON COLUMN findings.first_scan_id IS 'Scan that first found it.';

COMMENT ON COLUMN findings.last_scan_id IS 'Last scan that found it.';

COMMENT ON COLUMN findings.status IS 'Triage status: open, false_positive, accepted, revoked, fixed.';

COMMENT ON COLUMN findings.status_by IS 'Who set the status last.';

COMMENT ON COLUMN findings.status_at IS 'When the status was set last (UTC).';

COMMENT ON COLUMN findings.status_reason IS 'Why the status was set, free text.';

CREATE TABLE locations (
	loc_key VARCHAR(32) NOT NULL, 
	target TEXT NOT NULL, 
	blob_id VARCHAR(64) NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	path TEXT, 
	commit_sha VARCHAR(64), 
	fields JSONB NOT NULL, 
	first_scan_id INTEGER, 
	CONSTRAINT pk_locations PRIMARY KEY (loc_key), 
	CONSTRAINT fk_locations_first_scan_id_scans FOREIGN KEY(first_scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

CREATE INDEX ix_locations_blob_id ON locations (blob_id);

CREATE INDEX ix_locations_target_source ON locations (target, source);

COMMENT ON TABLE locations IS 'Places where blobs were seen (a provenance of a match), stored once however many scans see them; `scan_locations` says which scans did.';

COMMENT ON COLUMN locations.loc_key IS 'Hash of (target, blob_id, fields): one row per distinct place, shared by scans.';

COMMENT ON COLUMN locations.target IS 'Target as given by the user (path, repository, image).';

COMMENT ON COLUMN locations.blob_id IS 'Blob seen at this place.';

COMMENT ON COLUMN locations.source IS 'Provenance tag: file, git, stdin, image, ...';

COMMENT ON COLUMN locations.path IS 'Path of the blob (NULL for an unreachable git blob).';

COMMENT ON COLUMN locations.commit_sha IS 'Git commit that introduced the blob at path.';

COMMENT ON COLUMN locations.fields IS 'JSON of the provenance''s as_location() fields, keys sorted.';

COMMENT ON COLUMN locations.first_scan_id IS 'Scan that first recorded this place.';

CREATE TABLE git_walks (
	walk_key TEXT NOT NULL, 
	scan_id INTEGER, 
	tips JSONB NOT NULL, 
	walked_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_git_walks PRIMARY KEY (walk_key), 
	CONSTRAINT fk_git_walks_scan_id_scans FOREIGN KEY(scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

COMMENT ON TABLE git_walks IS 'The last history walk per repository and ruleset.';

COMMENT ON COLUMN git_walks.walk_key IS 'Repository and ruleset of the walk (the key of walked_commits).';

COMMENT ON COLUMN git_walks.scan_id IS 'The last scan that walked the repository''s whole history under the ruleset; the next incremental scan carries its git places forward.';

COMMENT ON COLUMN git_walks.tips IS 'Ref name -> commit id at that walk, to tell a rewrite from new commits.';

COMMENT ON COLUMN git_walks.walked_at IS 'When it was walked (UTC).';

CREATE TABLE matches (
	blob_id VARCHAR(64) NOT NULL, 
	ruleset_hash VARCHAR(64) NOT NULL, 
	rule_id VARCHAR(200) NOT NULL, 
	byte_start BIGINT NOT NULL, 
	byte_end BIGINT NOT NULL, 
	finding_id VARCHAR(16) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	preview VARCHAR(200) NOT NULL, 
	line INTEGER NOT NULL, 
	col INTEGER NOT NULL, 
	pair_fingerprints JSONB NOT NULL, 
	decoded VARCHAR(200) DEFAULT '' NOT NULL, 
	step VARCHAR(300), 
	CONSTRAINT pk_matches PRIMARY KEY (blob_id, ruleset_hash, rule_id, byte_start, byte_end, fingerprint, decoded), 
	CONSTRAINT fk_matches_blob_id_ruleset_hash_scanned_blobs FOREIGN KEY(blob_id, ruleset_hash) REFERENCES scanned_blobs (blob_id, ruleset_hash) ON DELETE CASCADE, 
	CONSTRAINT fk_matches_finding_id_findings FOREIGN KEY(finding_id) REFERENCES findings (id) ON DELETE CASCADE
);

CREATE INDEX ix_matches_finding_id ON matches (finding_id);

COMMENT ON TABLE matches IS 'Confirmed hits in each blob matched under a ruleset. Never holds the raw secret.';

COMMENT ON COLUMN matches.blob_id IS 'Blob the hit is in.';

COMMENT ON COLUMN matches.ruleset_hash IS 'Ruleset the blob was matched under.';

COMMENT ON COLUMN matches.rule_id IS 'Rule that confirmed the hit.';

COMMENT ON COLUMN matches.byte_start IS 'Offset of the secret''s first byte in the blob.';

COMMENT ON COLUMN matches.byte_end IS 'Offset just past the secret''s last byte.';

COMMENT ON COLUMN matches.finding_id IS 'Finding this hit belongs to (derived from rule_id and fingerprint).';

COMMENT ON COLUMN matches.fingerprint IS 'Keyed hash of the secret (never the secret).';

COMMENT ON COLUMN matches.preview IS 'Redacted preview of the secret.';

COMMENT ON COLUMN matches.line IS '1-based line of the secret, for display.';

COMMENT ON COLUMN matches.col IS '1-based column of the secret, for display.';

COMMENT ON COLUMN matches.pair_fingerprints IS 'JSON list of fingerprints of paired parts (e.g. key id + secret) in the same blob.';

COMMENT ON COLUMN matches.decoded IS 'Decode route that exposed the secret, e.g. ''base64''; '''' when it was read as it stands.';

COMMENT ON COLUMN matches.step IS 'CI logs: the step of the job that printed the line (a GitLab section, a GitHub Actions step); NULL elsewhere.';

CREATE TABLE scan_locations (
	scan_id INTEGER NOT NULL, 
	blob_id VARCHAR(64) NOT NULL, 
	loc_key VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_scan_locations PRIMARY KEY (scan_id, blob_id, loc_key), 
	CONSTRAINT fk_scan_locations_scan_id_scans FOREIGN KEY(scan_id) REFERENCES scans (id) ON DELETE CASCADE, 
	CONSTRAINT fk_scan_locations_loc_key_locations FOREIGN KEY(loc_key) REFERENCES locations (loc_key) ON DELETE CASCADE
);

COMMENT ON TABLE scan_locations IS 'Which scans saw which places (a rescan of git history carries old places forward).';

COMMENT ON COLUMN scan_locations.scan_id IS 'Scan that saw the place.';

COMMENT ON COLUMN scan_locations.blob_id IS 'Blob at the place (copied from locations so ''was this blob seen in scan N'' is one index lookup).';

COMMENT ON COLUMN scan_locations.loc_key IS 'Place seen.';

CREATE TABLE verifications (
	finding_id VARCHAR(16) NOT NULL, 
	provider VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	identity JSONB NOT NULL, 
	message TEXT NOT NULL, 
	checked_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_verifications PRIMARY KEY (finding_id), 
	CONSTRAINT fk_verifications_finding_id_findings FOREIGN KEY(finding_id) REFERENCES findings (id) ON DELETE CASCADE
);

COMMENT ON TABLE verifications IS 'The last live verification of each finding, reused for a while (verify_ttl).';

COMMENT ON COLUMN verifications.finding_id IS 'Finding whose secret was verified (its value is never stored).';

COMMENT ON COLUMN verifications.provider IS 'Verifier that answered, e.g. ''github''.';

COMMENT ON COLUMN verifications.status IS 'live, revoked, unknown or error.';

COMMENT ON COLUMN verifications.identity IS 'What the provider said about the identity (account, user, scopes); no secret.';

COMMENT ON COLUMN verifications.message IS 'Why the status, in words; no secret.';

COMMENT ON COLUMN verifications.checked_at IS 'When it was verified (UTC).';

CREATE TABLE nhiguard_alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT nhiguard_alembic_version_pkc PRIMARY KEY (version_num)
);

