-- Placeholder for the dpop slice's migration 0019 (issue 15), so that 0020 applies on
-- the mtls branch alone: when both branches are merged, delete this file.
SELECT 1;
