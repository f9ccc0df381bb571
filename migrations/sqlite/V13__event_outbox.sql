-- Events waiting for the event webhook to take them. A sent event leaves the table; one
-- tried for a day is kept as abandoned.
CREATE TABLE event_outbox (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    body               TEXT NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    next_attempt_at_ms INTEGER NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    claimed_until_ms   INTEGER,
    abandoned          INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT
);
CREATE INDEX event_outbox_by_due ON event_outbox (next_attempt_at_ms) WHERE abandoned = 0;
