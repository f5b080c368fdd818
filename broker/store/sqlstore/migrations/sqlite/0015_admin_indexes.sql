-- Indexes for the admin console's searches (issue 12).
--
-- The audit log filtered by action (the audit page, its exports, the home's
-- charts counting actions per day): equality on action, then newest first.
-- SQLite ends every index with the rowid, which is audit_events.id, so this is
-- read in exactly the log's order (occurred_at DESC, id DESC): a page stops
-- after its LIMIT rows, and a time range is a range of the index. The other
-- filter columns already have theirs (actor, target, occurred_at); an outcome
-- is a suffix of the action (LIKE '%.refused'), which no B-tree index serves.
CREATE INDEX audit_events_action ON audit_events (action, occurred_at);

-- People search (Users.Search) walks users in (email_norm, id) order from the
-- cursor, and keeps the rows whose email_norm starts with the text or whose
-- lower(name) contains it. With lower(name) in the index the walk decides
-- each row from the index alone and reads the table only for the matches.
-- What it cannot do: use the index to find a name ('%text%' has no prefix),
-- nor the email prefix as a range (LIKE is case-insensitive in SQLite, and
-- this index is BINARY; and the name term is OR-ed with it), so a search
-- still reads index entries up to its last match. SQLite's lower() folds
-- ASCII only. The index replaces users_email, whose look-ups by email
-- (email_norm = ?) it serves as well.
CREATE INDEX users_search ON users (email_norm, id, lower(name));
DROP INDEX users_email;
