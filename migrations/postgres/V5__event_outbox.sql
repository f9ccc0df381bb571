-- Events waiting for the event webhook to take them. A sent event leaves the table; one
-- tried for a day is kept as abandoned.
CREATE TABLE event_outbox (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    body               TEXT NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    claimed_until_ms   BIGINT,
    abandoned          BOOLEAN NOT NULL DEFAULT FALSE,
    last_error         TEXT
);
CREATE INDEX event_outbox_by_due ON event_outbox (next_attempt_at_ms) WHERE NOT abandoned;
