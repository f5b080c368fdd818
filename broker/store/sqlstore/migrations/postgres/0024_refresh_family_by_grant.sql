-- A refresh-token family is the one chain of rotations of its grant (a code or
-- device authorization is redeemed once), and its tokens share the grant's ID:
-- the family is found through refresh_tokens_grant. Its own index cost every
-- rotation an index entry and a page written to the WAL, and every sweep a
-- delete from it, for no query that the grant's does not serve (issue 14).
DROP INDEX refresh_tokens_family;
