-- Reserved for the mtls slice's migration (issue 15), which replaces this file when merged;
-- present only so that 0021 applies on the webauthn branch alone.
SELECT 1;
