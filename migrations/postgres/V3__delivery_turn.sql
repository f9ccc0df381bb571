-- Whose turn it is to send deliveries to Clover. One instance at a time has it, so that
-- together the instances use Clover's whole per-token budget and never overdraw it; a
-- turn not renewed runs out and another instance takes it. The row also carries the
-- latest pause Clover imposed (a 429's retry-after), so that every instance keeps it.
CREATE TABLE delivery_turn (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    holder                 TEXT NOT NULL,
    until_ms               BIGINT NOT NULL,
    clover_paused_until_ms BIGINT NOT NULL DEFAULT 0
);
