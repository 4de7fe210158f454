//! Seeding by SQL: users and media rows bulk-inserted for the users' media
//! statistics, with IDs, names and sizes a test can recompute.

use super::*;

/// What [`SynapseHarness::seed_media_sql`] inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Users inserted (each with a profile and `media_per_user` media rows).
    pub users: u64,
    /// Media rows inserted.
    pub media: u64,
    /// Sum of the inserted rows' `media_length`.
    pub total_bytes: u64,
    /// `created_ts` of every inserted media row (ms since the Unix epoch).
    pub created_ts: u64,
}

/// The user ID of seeded user `i` (1-based), e.g. `@seed-0000042:warden.test`.
pub fn seeded_user_id(i: u64) -> String {
    format!("@seed-{i:07}:{SERVER_NAME}")
}

/// The display name of seeded user `i`: `Seed User 0000042`.
pub fn seeded_displayname(i: u64) -> String {
    format!("Seed User {i:07}")
}

/// Length of media row `j` (1-based) of seeded user `i`: `i * 1000 + j`.
pub fn seeded_media_row_length(i: u64, j: u64) -> u64 {
    i * 1000 + j
}

/// Total `media_length` of seeded user `i` with `media_per_user` rows.
pub fn seeded_media_length(i: u64, media_per_user: u64) -> u64 {
    (1..=media_per_user)
        .map(|j| seeded_media_row_length(i, j))
        .sum()
}

impl SynapseHarness {
    /// Bulk-inserts `n_users` users `@seed-0000001` … (see
    /// [`seeded_user_id`]), each with a profile (display name
    /// [`seeded_displayname`]) and `media_per_user` rows in
    /// `local_media_repository` (lengths [`seeded_media_row_length`], all
    /// created now), in one transaction. The statistics API reads only these
    /// tables; the users cannot log in (no password). Call it once per
    /// instance: the IDs are fixed.
    pub async fn seed_media_sql(&self, n_users: u64, media_per_user: u64) -> Result<SeedReport> {
        self.seed_media_sql_laid_out(n_users, media_per_user, false)
            .await
    }

    /// [`Self::seed_media_sql`] with the media rows written in upload order
    /// across users (`spread`: every user's first medium, then every
    /// user's second...), as a server whose users upload over time has
    /// them, instead of user by user: a user's rows then lie far apart in
    /// the table, which is what an index scan by user pays for.
    pub async fn seed_media_sql_laid_out(
        &self,
        n_users: u64,
        media_per_user: u64,
        spread: bool,
    ) -> Result<SeedReport> {
        let now = now_ms();
        let now_s = now / 1000;
        // Row sources `s(i)` for 1..=n_users and `m(j)` for 1..=media_per_user,
        // and the localpart `seed-0000042` of user i.
        let (series_i, series_j, digits) = match self.backend {
            Backend::Postgres => (
                format!("generate_series(1, {n_users}) AS s(i)"),
                format!("generate_series(1, {media_per_user}) AS m(j)"),
                "lpad(CAST(i AS TEXT), 7, '0')",
            ),
            Backend::Sqlite => (
                format!(
                    "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n_users}) \
                     SELECT i FROM s) AS s"
                ),
                format!(
                    "(WITH RECURSIVE m(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM m WHERE j < {media_per_user}) \
                     SELECT j FROM m) AS m"
                ),
                "substr('0000000' || CAST(i AS TEXT), -7)",
            ),
        };
        let localpart = format!("'seed-' || {digits}");
        let user_id = format!("'@' || {localpart} || ':{SERVER_NAME}'");
        let mut sql = format!(
            "BEGIN;\n\
             INSERT INTO users (name, password_hash, creation_ts, admin, is_guest, deactivated, approved) \
             SELECT {user_id}, NULL, {now_s}, 0, 0, 0, TRUE FROM {series_i};\n\
             INSERT INTO profiles (user_id, full_user_id, displayname) \
             SELECT {localpart}, {user_id}, 'Seed User ' || {digits} FROM {series_i};\n"
        );
        if media_per_user > 0 {
            sql += format!(
                "INSERT INTO local_media_repository (media_id, media_type, media_length, created_ts, \
                 upload_name, user_id, last_access_ts, safe_from_quarantine, authenticated) \
                 SELECT 'seed' || CAST(i AS TEXT) || 'x' || CAST(j AS TEXT), 'application/octet-stream', \
                 i * 1000 + j, {now}, 'seed.bin', {user_id}, {now}, FALSE, TRUE \
                 FROM {series_i}, {series_j} ORDER BY {order};\n",
                order = if spread { "j, i" } else { "i, j" },
            )
            .as_str();
        }
        sql += "COMMIT;\n";
        if n_users > 0 {
            self.sql(&sql).await.with_context(|| {
                format!("seeding {n_users} users with {media_per_user} media each")
            })?;
        }
        let total_bytes = (1..=n_users)
            .map(|i| seeded_media_length(i, media_per_user))
            .sum();
        Ok(SeedReport {
            users: n_users,
            media: n_users * media_per_user,
            total_bytes,
            created_ts: now,
        })
    }
}
