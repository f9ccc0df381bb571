-- A refresh got no answer: its token may only be recovered, never refreshed again.
ALTER TABLE clover_credentials ADD COLUMN recovery_pending INTEGER NOT NULL DEFAULT 0;
