-- Metadata of the compute node. One row per dataset, model and job: the API object as JSON in
-- `record`, plus the columns that constraints and queries need. Blobs (ciphertexts, checkpoints,
-- weights) live in the object store under their SHA-256; `blob_refs` says which rows use which.
-- Portable SQL: the same file runs on SQLite (single machine) and PostgreSQL (several nodes).

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    record TEXT NOT NULL
);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    record TEXT NOT NULL
);

-- Training jobs (not `jobs`: apalis's SQLite backend has a `Jobs` table, and SQLite names ignore
-- case). `state` and `node` are authoritative; the JSON record holds progress and results.
CREATE TABLE training_jobs (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    state TEXT NOT NULL,
    node TEXT,
    heartbeat_at BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    record TEXT NOT NULL
);

-- At most one queued or running job per model: concurrent creates and resumes have one winner.
CREATE UNIQUE INDEX jobs_one_active_per_model ON training_jobs (model_id)
    WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_dataset ON training_jobs (dataset_id);
CREATE INDEX jobs_by_state ON training_jobs (state, created_at);

-- owner: 'dataset:{id}', 'model:{id}' or 'job:{id}'.
CREATE TABLE blob_refs (
    owner TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (owner, sha256)
);
CREATE INDEX blob_refs_by_sha ON blob_refs (sha256);
