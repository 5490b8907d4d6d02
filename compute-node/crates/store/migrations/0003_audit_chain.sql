-- The audit log as a hash chain (crate::audit::chain): every row carries its place `seq` (1, 2,
-- ...), the hash of the row before it (`prev_hash`, 64 zeros for the first) and its own hash over
-- (seq, prev_hash, every column). `audit_head` (one row) holds the last seq and hash; the node
-- appends under its lock, so the chain stays linear with several nodes on one database.
-- Rows written before this migration have no seq: the first node to start afterwards chains them
-- in (at_micros, id) order and then appends a `notice` row saying how many it chained; any row
-- without a seq after that was written outside the node.
-- `kind`: `request`, `notice` (a node's own event) or `checkpoint` (written by `audit prune`).
-- `count`: the refusals a row stands for (repeats from one peer are aggregated).

ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN row_hash TEXT;
ALTER TABLE audit_log ADD COLUMN kind TEXT NOT NULL DEFAULT 'request';
ALTER TABLE audit_log ADD COLUMN peer TEXT;
ALTER TABLE audit_log ADD COLUMN client_request_id TEXT;
ALTER TABLE audit_log ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN detail TEXT;
CREATE UNIQUE INDEX audit_log_by_seq ON audit_log (seq);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    row_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, row_hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
