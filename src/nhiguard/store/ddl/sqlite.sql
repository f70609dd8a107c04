CREATE TABLE meta (
	"key" VARCHAR(100) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_meta PRIMARY KEY ("key")
);

CREATE TABLE scans (
	id INTEGER NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	targets JSON NOT NULL, 
	ruleset_hash VARCHAR(64) NOT NULL, 
	engine VARCHAR(100) NOT NULL, 
	bytes_scanned BIGINT NOT NULL, 
	blobs_scanned INTEGER NOT NULL, 
	blobs_seen INTEGER NOT NULL, 
	blobs_reused INTEGER NOT NULL, 
	errors JSON NOT NULL, 
	CONSTRAINT pk_scans PRIMARY KEY (id)
);

CREATE TABLE walked_commits (
	repo_key TEXT NOT NULL, 
	commit_sha VARCHAR(64) NOT NULL, 
	walked_at DATETIME NOT NULL, 
	CONSTRAINT pk_walked_commits PRIMARY KEY (repo_key, commit_sha)
);

CREATE TABLE image_layers (
	layer_digest VARCHAR(140) NOT NULL, 
	key_id VARCHAR(64) NOT NULL, 
	entries TEXT NOT NULL, 
	files INTEGER NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	CONSTRAINT pk_image_layers PRIMARY KEY (layer_digest, key_id)
);

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
	created DATETIME, 
	expires DATETIME, 
	last_used DATETIME, 
	last_rotated DATETIME, 
	status VARCHAR(32) NOT NULL, 
	privileges JSON NOT NULL, 
	grants JSON NOT NULL, 
	tags JSON NOT NULL, 
	attributes JSON NOT NULL, 
	link_fingerprint VARCHAR(64), 
	sources JSON NOT NULL, 
	first_imported DATETIME NOT NULL, 
	last_imported DATETIME NOT NULL, 
	CONSTRAINT pk_identities PRIMARY KEY (id)
);

CREATE INDEX ix_identities_link_fingerprint ON identities (link_fingerprint);

CREATE INDEX ix_identities_parent_id ON identities (parent_id);

CREATE TABLE watch_profiles (
	identity VARCHAR(600) NOT NULL, 
	profile JSON NOT NULL, 
	events BIGINT NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_watch_profiles PRIMARY KEY (identity)
);

CREATE TABLE alerts (
	id VARCHAR(16) NOT NULL, 
	detector VARCHAR(64) NOT NULL, 
	identity VARCHAR(600) NOT NULL, 
	inventory_id VARCHAR(80), 
	identity_name TEXT NOT NULL, 
	human VARCHAR(16) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	count BIGINT NOT NULL, 
	suppressed BIGINT NOT NULL, 
	summary TEXT NOT NULL, 
	baseline TEXT NOT NULL, 
	evidence JSON NOT NULL, 
	events JSON NOT NULL, 
	owasp JSON NOT NULL, 
	attack JSON NOT NULL, 
	decided_by VARCHAR(200), 
	decided_at DATETIME, 
	reason TEXT, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_alerts PRIMARY KEY (id)
);

CREATE INDEX ix_alerts_identity ON alerts (identity);

CREATE INDEX ix_alerts_status ON alerts (status);

CREATE TABLE watch_inputs (
	head VARCHAR(64) NOT NULL, 
	name TEXT NOT NULL, 
	size_read BIGINT NOT NULL, 
	tail VARCHAR(64) NOT NULL, 
	events BIGINT NOT NULL, 
	read_at DATETIME NOT NULL, 
	CONSTRAINT pk_watch_inputs PRIMARY KEY (head)
);

CREATE TABLE token_hashes (
	digest VARCHAR(64) NOT NULL, 
	finding_id VARCHAR(16) NOT NULL, 
	CONSTRAINT pk_token_hashes PRIMARY KEY (digest)
);

CREATE TABLE scanned_blobs (
	blob_id VARCHAR(64) NOT NULL, 
	ruleset_hash VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	scanned_at DATETIME NOT NULL, 
	scan_id INTEGER, 
	CONSTRAINT pk_scanned_blobs PRIMARY KEY (blob_id, ruleset_hash), 
	CONSTRAINT fk_scanned_blobs_scan_id_scans FOREIGN KEY(scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

CREATE TABLE findings (
	id VARCHAR(16) NOT NULL, 
	rule_id VARCHAR(200) NOT NULL, 
	rule_name VARCHAR(300) NOT NULL, 
	kind VARCHAR(100) NOT NULL, 
	provider VARCHAR(100) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	preview VARCHAR(200) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	first_scan_id INTEGER, 
	last_scan_id INTEGER, 
	status VARCHAR(32) DEFAULT 'open' NOT NULL, 
	status_by VARCHAR(200), 
	status_at DATETIME, 
	status_reason TEXT, 
	CONSTRAINT pk_findings PRIMARY KEY (id), 
	CONSTRAINT uq_findings_rule_id_fingerprint UNIQUE (rule_id, fingerprint), 
	CONSTRAINT fk_findings_first_scan_id_scans FOREIGN KEY(first_scan_id) REFERENCES scans (id) ON DELETE SET NULL, 
	CONSTRAINT fk_findings_last_scan_id_scans FOREIGN KEY(last_scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

CREATE TABLE locations (
	loc_key VARCHAR(32) NOT NULL, 
	target TEXT NOT NULL, 
	blob_id VARCHAR(64) NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	path TEXT, 
	commit_sha VARCHAR(64), 
	fields JSON NOT NULL, 
	first_scan_id INTEGER, 
	CONSTRAINT pk_locations PRIMARY KEY (loc_key), 
	CONSTRAINT fk_locations_first_scan_id_scans FOREIGN KEY(first_scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

CREATE INDEX ix_locations_blob_id ON locations (blob_id);

CREATE INDEX ix_locations_target_source ON locations (target, source);

CREATE TABLE git_walks (
	walk_key TEXT NOT NULL, 
	scan_id INTEGER, 
	tips JSON NOT NULL, 
	walked_at DATETIME NOT NULL, 
	CONSTRAINT pk_git_walks PRIMARY KEY (walk_key), 
	CONSTRAINT fk_git_walks_scan_id_scans FOREIGN KEY(scan_id) REFERENCES scans (id) ON DELETE SET NULL
);

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
	pair_fingerprints JSON NOT NULL, 
	decoded VARCHAR(200) DEFAULT '' NOT NULL, 
	step VARCHAR(300), 
	CONSTRAINT pk_matches PRIMARY KEY (blob_id, ruleset_hash, rule_id, byte_start, byte_end, fingerprint, decoded), 
	CONSTRAINT fk_matches_blob_id_ruleset_hash_scanned_blobs FOREIGN KEY(blob_id, ruleset_hash) REFERENCES scanned_blobs (blob_id, ruleset_hash) ON DELETE CASCADE, 
	CONSTRAINT fk_matches_finding_id_findings FOREIGN KEY(finding_id) REFERENCES findings (id) ON DELETE CASCADE
);

CREATE INDEX ix_matches_finding_id ON matches (finding_id);

CREATE TABLE scan_locations (
	scan_id INTEGER NOT NULL, 
	blob_id VARCHAR(64) NOT NULL, 
	loc_key VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_scan_locations PRIMARY KEY (scan_id, blob_id, loc_key), 
	CONSTRAINT fk_scan_locations_scan_id_scans FOREIGN KEY(scan_id) REFERENCES scans (id) ON DELETE CASCADE, 
	CONSTRAINT fk_scan_locations_loc_key_locations FOREIGN KEY(loc_key) REFERENCES locations (loc_key) ON DELETE CASCADE
)
 WITHOUT ROWID;

CREATE TABLE verifications (
	finding_id VARCHAR(16) NOT NULL, 
	provider VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	identity JSON NOT NULL, 
	message TEXT NOT NULL, 
	checked_at DATETIME NOT NULL, 
	CONSTRAINT pk_verifications PRIMARY KEY (finding_id), 
	CONSTRAINT fk_verifications_finding_id_findings FOREIGN KEY(finding_id) REFERENCES findings (id) ON DELETE CASCADE
);

CREATE TABLE nhiguard_alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT nhiguard_alembic_version_pkc PRIMARY KEY (version_num)
);

