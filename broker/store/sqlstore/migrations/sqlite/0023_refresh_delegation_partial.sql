-- Most refresh tokens belong to no delegation (delegation_id = ''), yet every
-- one of them had an entry in refresh_tokens_delegation, written on every
-- rotation and deleted by every sweep (issue 14). Only the delegated ones are
-- ever looked up by delegation, so the index keeps only them; Revoke's
-- condition repeats the predicate so that the planner may use it.
DROP INDEX refresh_tokens_delegation;
CREATE INDEX refresh_tokens_delegation ON refresh_tokens (delegation_id) WHERE delegation_id <> '';
