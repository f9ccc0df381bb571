-- Submissions turned away as bots, by reason: counted, never stored.
CREATE TABLE bot_counts (
    reason TEXT PRIMARY KEY,
    count  INTEGER NOT NULL
);
