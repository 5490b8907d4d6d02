-- Secure mode (issue #30; crate::secure): quantized models that an owner tenant publishes in
-- plaintext and grants to other tenants, who predict on BFV ciphertexts the node cannot read.
-- The model JSON and the evaluation keys (relinearization keys, public) are blobs in the object
-- store under their SHA-256, referenced in `blob_refs` as 'secure_model:{id}' and
-- 'evaluation_key:{id}', so deleted or expired ones are collected like every other blob.
-- The node stores nothing of a secure predict but its audit row: no ciphertext, no output.
-- Portable SQL: the same file runs on SQLite and PostgreSQL.

CREATE TABLE secure_models (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The BFV parameter set the model was checked against (more_secure::PARAMETER_SET).
    parameter_set TEXT NOT NULL,
    -- The QuantizedModel JSON, a blob.
    model_sha256 TEXT NOT NULL,
    -- What lists show without the weights: input shape, outputs, class names, bound bits (JSON).
    summary TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX secure_models_by_tenant ON secure_models (tenant, created_at);

-- Tenants (besides the owner) that may read and predict with a model.
CREATE TABLE secure_model_grants (
    model_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    PRIMARY KEY (model_id, tenant)
);
CREATE INDEX secure_model_grants_by_tenant ON secure_model_grants (tenant);

-- A tenant's uploaded evaluation keys; they expire (crate::secure::store::expire_keys, run with
-- the garbage collector) and a tenant keeps a bounded number (the oldest go first: microseconds,
-- so that keys uploaded within one second keep their order).
CREATE TABLE evaluation_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    parameter_set TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    created_micros BIGINT NOT NULL
);
CREATE INDEX evaluation_keys_by_tenant ON evaluation_keys (tenant, created_micros);
CREATE INDEX evaluation_keys_by_age ON evaluation_keys (created_micros);
