-- Linking and admin look-ups find users by canonical email whether or not it is
-- verified (whether it may be linked to is decided from the identities that vouch
-- for it), so the index covers every row rather than the verified ones only.
DROP INDEX users_verified_email;
CREATE INDEX users_email ON users (email_norm);
