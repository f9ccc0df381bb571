-- Troubles the merchant was alerted to and that are not over: one row each, claimed by
-- the instance that sends, so that nothing is sent twice.
CREATE TABLE alerts (
    trouble      TEXT PRIMARY KEY,
    opened_at_ms INTEGER NOT NULL,
    sent_at_ms   INTEGER NOT NULL
);
