CREATE TABLE submissions (
    id                 TEXT PRIMARY KEY,
    -- Arrival order among submissions received in the same millisecond.
    seq                BIGINT GENERATED ALWAYS AS IDENTITY,
    received_at        BIGINT NOT NULL,
    source             TEXT NOT NULL CHECK (source IN ('form', 'api')),
    first_name         TEXT,
    last_name          TEXT,
    email              TEXT NOT NULL,
    phone              TEXT,
    marketing_consent  BOOLEAN NOT NULL,
    consent_text       TEXT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    clover_customer_id TEXT,
    outcome            TEXT CHECK (outcome IN ('created', 'updated', 'linked')),
    delivered_at       BIGINT,
    -- The key a form render or an API client sends, so a retry is stored once.
    idempotency_key    TEXT,
    -- Birthday, address and the visitor's note as one JSON object (SignupDetails).
    details            TEXT
);
CREATE INDEX submissions_by_received_at ON submissions (received_at);
CREATE INDEX submissions_by_state ON submissions (state);
CREATE UNIQUE INDEX submissions_by_idempotency_key
    ON submissions (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- One row per submission still to be delivered (the transactional outbox). A claim
-- names the instance holding it and runs out at lease_until unless renewed.
CREATE TABLE delivery_queue (
    submission_id   TEXT PRIMARY KEY REFERENCES submissions (id),
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    lease_until     BIGINT
);
CREATE INDEX delivery_queue_by_due ON delivery_queue (next_attempt_at);
CREATE INDEX delivery_queue_by_lease ON delivery_queue (lease_until)
    WHERE lease_until IS NOT NULL;
CREATE INDEX delivery_queue_by_holder ON delivery_queue (claimed_by)
    WHERE claimed_by IS NOT NULL;

-- Instances of the service and when each was last seen: they share Clover's budget.
CREATE TABLE instances (
    id        TEXT PRIMARY KEY,
    last_seen BIGINT NOT NULL
);

-- The merchant's Clover credential, one row; tokens encrypted (storage::cipher).
CREATE TABLE clover_credentials (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    kind                   TEXT NOT NULL CHECK (kind IN ('oauth', 'api_token')),
    merchant_id            TEXT NOT NULL,
    access_token           BYTEA NOT NULL,
    access_expires_at      BIGINT,
    refresh_token          BYTEA,
    refresh_expires_at     BIGINT,
    previous_refresh_token BYTEA,
    last_refresh_at        BIGINT,
    needs_authorization    TEXT,
    replaces_env_digest    TEXT,
    recovery_pending       BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at             BIGINT NOT NULL
);

-- Submissions turned away as bots, by reason: counted, never stored.
CREATE TABLE bot_counts (
    reason TEXT PRIMARY KEY,
    count  BIGINT NOT NULL
);

-- Customers of the demo stand-in for Clover.
CREATE TABLE demo_customers (
    id             TEXT PRIMARY KEY,
    seq            BIGINT GENERATED ALWAYS AS IDENTITY,
    first_name     TEXT,
    last_name      TEXT,
    emails         TEXT[] NOT NULL DEFAULT '{}',
    phones         TEXT[] NOT NULL DEFAULT '{}',
    note           TEXT,
    customer_since BIGINT
);
