-- Audit events written again after a failure (issue 14, "Audit survives outages"):
-- a batch retried after a commit whose answer was lost, or the spill file replayed
-- after a crash between its insert and its truncation. Each event carries an ID
-- made by its writer; the unique index makes the insert once-only
-- (INSERT … ON CONFLICT (event_id) DO NOTHING). Rows from before have NULL, which
-- a unique index allows any number of.
ALTER TABLE audit_events ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX audit_events_event_id ON audit_events (event_id);
