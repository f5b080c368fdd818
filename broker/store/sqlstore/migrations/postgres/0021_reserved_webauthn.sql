-- Placeholder for the webauthn slice's migration 0021 (issue 15), which the loader needs
-- to be contiguous: the lead drops this file when that slice merges.
SELECT 1;
