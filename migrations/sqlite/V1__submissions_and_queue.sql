CREATE TABLE submissions (
    id                 TEXT PRIMARY KEY,
    received_at        INTEGER NOT NULL,
    source             TEXT NOT NULL CHECK (source IN ('form', 'api')),
    first_name         TEXT,
    last_name          TEXT,
    email              TEXT NOT NULL,
    phone              TEXT,
    marketing_consent  INTEGER NOT NULL,
    consent_text       TEXT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    clover_customer_id TEXT,
    outcome            TEXT CHECK (outcome IN ('created', 'updated', 'linked')),
    delivered_at       INTEGER
);
CREATE INDEX submissions_by_received_at ON submissions (received_at);
CREATE INDEX submissions_by_state ON submissions (state);

-- One row per submission still to be delivered (the transactional outbox).
CREATE TABLE delivery_queue (
    submission_id   TEXT PRIMARY KEY REFERENCES submissions (id),
    next_attempt_at INTEGER NOT NULL,
    in_flight       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX delivery_queue_by_due ON delivery_queue (in_flight, next_attempt_at);

-- Customers of the demo stand-in for Clover.
CREATE TABLE demo_customers (
    id             TEXT PRIMARY KEY,
    first_name     TEXT,
    last_name      TEXT,
    emails         TEXT NOT NULL DEFAULT '[]',
    phones         TEXT NOT NULL DEFAULT '[]',
    note           TEXT,
    customer_since INTEGER
);
