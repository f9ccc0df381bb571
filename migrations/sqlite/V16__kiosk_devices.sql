-- Counter tablets the merchant paired. A device is known by the SHA-256 of its cookie's
-- secret, and offered for pairing by the SHA-256 of its link's secret until that link
-- expires or is used: neither secret is kept, so a copy of the database pairs nothing.
-- The last signup stored from a tablet: a form served before it is no longer taken.
CREATE TABLE kiosk_devices (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    pairing_hash       TEXT,
    pairing_expires_ms INTEGER,
    cookie_hash        TEXT,
    paired_at_ms       INTEGER,
    last_used_at_ms    INTEGER,
    last_signup_at_ms  INTEGER,
    revoked_at_ms      INTEGER
);
