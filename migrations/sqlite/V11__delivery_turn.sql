-- Whose turn it is to send deliveries to Clover, and the latest pause Clover imposed;
-- the same table as in PostgreSQL, where several instances share one database.
CREATE TABLE delivery_turn (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    holder                 TEXT NOT NULL,
    until_ms               INTEGER NOT NULL,
    clover_paused_until_ms INTEGER NOT NULL DEFAULT 0
);
