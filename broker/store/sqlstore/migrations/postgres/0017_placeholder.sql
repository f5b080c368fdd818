-- Placeholder for migration 0017, which the "writer" slice of issue 14 adds;
-- migrations must be numbered without gaps. Delete this file when that one is merged.
SELECT 1;
