-- Placeholder for migration 0015, which the "asettings" slice of issue 14 adds;
-- migrations must be numbered without gaps. Delete this file when that one is merged.
SELECT 1;
