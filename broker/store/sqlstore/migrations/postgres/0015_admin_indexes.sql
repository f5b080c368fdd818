-- Indexes for the admin console's searches (issue 12).
--
-- The audit log filtered by action (the audit page, its exports, the home's
-- charts counting actions per day): equality on action, then newest first.
-- With id in the index it is read in exactly the log's order
-- (occurred_at DESC, id DESC), backwards: a page stops after its LIMIT rows
-- without a sort, and a time range is a range of the index. The other filter
-- columns already have theirs (actor, target, occurred_at); an outcome is a
-- suffix of the action (LIKE '%.refused'), which no B-tree index serves.
CREATE INDEX audit_events_action ON audit_events (action, occurred_at, id);

-- People search (Users.Search) walks users in (email_norm, id) order from the
-- cursor, and keeps the rows whose email_norm starts with the text or whose
-- lower(name) contains it: this index gives that order without a sort, and
-- the cursor as a range of it. What it cannot do: find a name
-- ('%text%' has no prefix; only a trigram index, the pg_trgm extension, could,
-- which Gatehouse does not require), nor the email prefix as a range (a B-tree
-- serves LIKE 'x%' only under the C collation or text_pattern_ops, and the
-- name term is OR-ed with it), so a search still reads rows up to its last
-- match. An index on lower(name) would not help either: PostgreSQL checks a
-- non-key condition on the table row. The index replaces users_email, whose
-- look-ups by email (email_norm = $1) it serves as well.
CREATE INDEX users_search ON users (email_norm, id);
DROP INDEX users_email;
