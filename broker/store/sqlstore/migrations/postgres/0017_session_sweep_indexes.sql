-- The session sweep lists sessions past their absolute expiry OR idle since a
-- time: one index on each column lets both databases answer it by merging two
-- index ranges (SQLite's OR optimisation, PostgreSQL's BitmapOr) instead of
-- reading every session each minute on each replica (issue 14: 1M rows took
-- 2.4 s on SQLite). It replaces the single index 0006 dropped, which served
-- neither half alone.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
