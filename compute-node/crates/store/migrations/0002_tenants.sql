-- Tenants (a hospital, a research group) own datasets, models and jobs. Rows made before tenants
-- existed, and every request of a node started with --insecure-no-auth, belong to `local`.

CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
INSERT INTO tenants (name, created_at) VALUES ('local', 0);

ALTER TABLE datasets ADD COLUMN tenant TEXT NOT NULL DEFAULT 'local';
ALTER TABLE models ADD COLUMN tenant TEXT NOT NULL DEFAULT 'local';
ALTER TABLE training_jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'local';
CREATE INDEX datasets_by_tenant ON datasets (tenant, created_at);
CREATE INDEX models_by_tenant ON models (tenant, created_at);
CREATE INDEX jobs_by_tenant ON training_jobs (tenant, created_at);

-- API keys: only the SHA-256 of the key is stored (keys are 256-bit random, so a plain hash
-- cannot be searched backwards). `id` is the public handle used to list and revoke.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (name),
    role TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant);

-- Who did what, when, with which result: one row per API request that names a tenant's data
-- (health and the OpenAPI document excepted). Append-only: the node only inserts, and triggers
-- (created at start-up, per database) refuse UPDATE and DELETE.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at_micros BIGINT NOT NULL,
    tenant TEXT,
    subject TEXT,
    auth_method TEXT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    object_id TEXT,
    status INTEGER NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at_micros);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant, at_micros);
