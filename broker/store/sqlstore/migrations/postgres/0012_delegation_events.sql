-- Delegations end at once when their ground goes (issue 11, "Revocation is
-- immediate"). The maintenance pass ends the delegations that expired
-- (ListExpired): a partial index keeps that query to the few rows not ended.
CREATE INDEX delegations_expiry ON delegations (expires_at) WHERE revoked_at IS NULL;
-- The scopes of a delegation its grantor no longer holds, as of the last
-- re-check (delegate.Recheck): what was issued under it was revoked when each
-- was withheld, and is not revoked again for the same loss.
ALTER TABLE delegations ADD COLUMN withheld TEXT NOT NULL DEFAULT '[]';
