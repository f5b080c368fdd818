-- Delegation (issue 11): a note for the grantee, whether the grantee may pass the
-- grant on, the grant a re-delegation was given from, why a grant ended, and its
-- last use (shown on the delegations page).
ALTER TABLE delegations ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN may_redelegate BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE delegations ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN last_used_at TIMESTAMPTZ;
-- Before this migration only a grantor could end a delegation.
UPDATE delegations SET end_reason = 'revoked' WHERE revoked_at IS NOT NULL;
-- Ending a grant ends its re-delegations (ListByParent).
CREATE INDEX delegations_parent ON delegations (parent_id);
-- An API's delegation policy: {"Allowed":…,"MaxDuration":…,"Scopes":[…],"Redelegation":…};
-- '{}' is "not allowed".
ALTER TABLE apis ADD COLUMN delegation TEXT NOT NULL DEFAULT '{}';
