-- A per-user credential version, bumped in the same UPDATE that replaces the password hash.
-- Login reads it in the same row as the hash it verifies and stamps it into the token
-- (claim "cv"), so a login that checked the old password just before a change gets the old
-- version, and the revocation check (Valkey, no database read on the frame path) refuses
-- every token older than the user's current version. Existing users start at 0, the version
-- tokens issued before this column existed count as (docs/adr/0008-credential-versions.md).
ALTER TABLE users ADD COLUMN credential_version integer NOT NULL DEFAULT 0
    CHECK (credential_version >= 0);
