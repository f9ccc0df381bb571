-- The consent ledger. Every event is a row of its own, never changed and never removed:
-- the triggers below refuse both. A person is named by a keyed hash of their email
-- address (`person`); what identifies them (address, phone, IP address, user agent) is
-- kept beside the event in consent_evidence, which an erasure empties while the events
-- stay as proof of what happened and when.
CREATE TABLE consent_events (
    id            TEXT PRIMARY KEY,
    occurred_at   INTEGER NOT NULL,
    person        TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('given', 'confirmed', 'withdrawn', 'erased', 'viewed',
                                  'exported')),
    channel       TEXT CHECK (channel IN ('email', 'sms')),
    actor         TEXT NOT NULL CHECK (actor IN ('visitor', 'merchant')),
    consent_text  TEXT,
    text_version  TEXT,
    language      TEXT,
    source        TEXT,
    form_id       TEXT,
    submission_id TEXT
);
CREATE INDEX consent_events_by_person ON consent_events (person, occurred_at);

CREATE TRIGGER consent_events_are_never_changed BEFORE UPDATE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are never changed');
END;
CREATE TRIGGER consent_events_are_never_removed BEFORE DELETE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are never removed');
END;

-- Who an event was about and where it came from: personal data, removed by an erasure.
CREATE TABLE consent_evidence (
    event_id   TEXT PRIMARY KEY REFERENCES consent_events (id),
    email      TEXT NOT NULL,
    phone      TEXT,
    ip_address TEXT,
    user_agent TEXT
);
CREATE INDEX consent_evidence_by_phone ON consent_evidence (phone) WHERE phone IS NOT NULL;
CREATE INDEX submissions_by_phone ON submissions (phone) WHERE phone IS NOT NULL;
