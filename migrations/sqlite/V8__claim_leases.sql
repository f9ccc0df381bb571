-- Claims with leases instead of a flag: a claim names the process that holds it and
-- runs out unless renewed, so a claim whose holder died is taken over. The old flag,
-- in_flight, stays (always 0 from here on), so an older version rolled back to can
-- still read the queue.
ALTER TABLE delivery_queue ADD COLUMN claimed_by TEXT;
ALTER TABLE delivery_queue ADD COLUMN lease_until INTEGER;
CREATE INDEX delivery_queue_by_next_attempt ON delivery_queue (next_attempt_at);
CREATE INDEX delivery_queue_by_lease ON delivery_queue (lease_until)
    WHERE lease_until IS NOT NULL;
CREATE INDEX delivery_queue_by_holder ON delivery_queue (claimed_by)
    WHERE claimed_by IS NOT NULL;
-- Running processes and when they were last seen (one, for a SQLite file).
CREATE TABLE instances (
    id        TEXT PRIMARY KEY,
    last_seen INTEGER NOT NULL
);
