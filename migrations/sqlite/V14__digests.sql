-- Digests sent (or skipped as quiet), one row per period, claimed by the instance that
-- sends it; the bots counted then, to tell the next digest how many came since.
CREATE TABLE digests (
    period     TEXT PRIMARY KEY,
    sent_at_ms INTEGER NOT NULL,
    bots_total INTEGER NOT NULL
);
