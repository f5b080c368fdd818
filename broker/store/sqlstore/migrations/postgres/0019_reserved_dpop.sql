-- Placeholder for the dpop slice's migration 0019 (issue 15), which the loader needs
-- to be contiguous: the lead drops this file when that slice merges.
SELECT 1;
