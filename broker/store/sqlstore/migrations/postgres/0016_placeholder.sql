-- Placeholder for migration 0016, which the "audit" slice of issue 14 adds;
-- migrations must be numbered without gaps. Delete this file when that one is merged.
SELECT 1;
