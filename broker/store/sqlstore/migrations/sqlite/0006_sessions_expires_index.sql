-- No query used it: the sweep selects sessions past their absolute expiry OR idle
-- since a time, which no single-column index serves, and every sign-in paid for
-- writing it.
DROP INDEX sessions_expires;
