-- Secure mode's sample quota (issue #30; crate::secure::quota): a model's owner may limit how
-- many samples each granted tenant scores per rolling 24 hours (NULL: the node's default,
-- --secure-samples-per-day, which may be unlimited). The owner's own tenant is never limited.
-- Portable SQL: the same file runs on SQLite and PostgreSQL.

ALTER TABLE secure_models ADD COLUMN samples_per_day BIGINT;

-- One row per admitted secure predict of a limited tenant, written BEFORE the node evaluates
-- it (a reservation, withdrawn when the predict fails before its answer). Reservations are made
-- under a lock (the model's row on PostgreSQL, the single writer on SQLite), so nodes sharing
-- the database never admit more than the quota between them. Rows older than 24 hours are
-- deleted when the tenant's next reservation for the model is made, and with the model.
CREATE TABLE secure_usage (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    samples BIGINT NOT NULL,
    at_micros BIGINT NOT NULL
);
CREATE INDEX secure_usage_by_model_tenant ON secure_usage (model_id, tenant, at_micros);
