//! Adapter: the usage history's SQLite file (`history.sqlite3` in the data
//! directory), written at the end of every run and read by `trend` and
//! `growth`.
//!
//! SQLite is the one matrix-sdk already links (rusqlite's bundled build),
//! in WAL mode so that a reader (the `stats` command line) never blocks
//! the daemon's writes, with a short busy timeout so that a locked file
//! costs a run a second at most. The schema is versioned with `PRAGMA
//! user_version`: [`MIGRATIONS`] are applied in order, each in a
//! transaction, and a file from a newer warden is refused rather than
//! guessed at. Users' IDs are stored once (`user_ids`) and referenced by
//! number, which keeps a run's thousand rows small.
//!
//! What to record, what to delete and what the numbers mean are the pure
//! core's decisions ([`crate::core::history`]); this module only stores.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use thiserror::Error;

use crate::core::history::thin::{self, Stored};
use crate::core::history::trend::Point;
use crate::core::history::view::RunUsers;
use crate::core::history::{RuleCount, RunRecord, UserTotal};

/// The schema, one step per version (`PRAGMA user_version` is the number
/// of steps applied). Append; never edit a step that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, their violations per rule, the users that mattered.
    "CREATE TABLE runs (
         id INTEGER PRIMARY KEY,
         started_ms INTEGER NOT NULL,
         complete INTEGER NOT NULL,
         partial_reason TEXT,
         users INTEGER NOT NULL,
         bytes INTEGER NOT NULL,
         media INTEGER NOT NULL,
         floor_bytes INTEGER NOT NULL
     );
     CREATE INDEX runs_by_start ON runs (started_ms);
     CREATE TABLE rule_counts (
         run_id INTEGER NOT NULL,
         rule TEXT NOT NULL,
         warning INTEGER NOT NULL,
         critical INTEGER NOT NULL,
         PRIMARY KEY (run_id, rule)
     ) WITHOUT ROWID;
     CREATE TABLE user_ids (
         id INTEGER PRIMARY KEY,
         user_id TEXT NOT NULL UNIQUE
     );
     CREATE TABLE user_totals (
         run_id INTEGER NOT NULL,
         user INTEGER NOT NULL,
         bytes INTEGER NOT NULL,
         media INTEGER NOT NULL,
         PRIMARY KEY (run_id, user)
     ) WITHOUT ROWID;",
    // 2: one user's runs without a scan of every run (`trend @user`), and
    // finding user IDs no run refers to any more.
    "CREATE INDEX user_totals_by_user ON user_totals (user, run_id);",
    // 3: the index of step 2 made every run write (and every thinning
    // delete) about a thousand leaf pages scattered over the file, one per
    // recorded user: 124 ms a write at the median once the history held a
    // month at 200 000 users, against 23 ms without it. Each user ID now counts the runs that record it, so
    // that the IDs no run refers to are found from the deleted runs' own
    // rows, and `trend @user` looks the user up run by run through the
    // primary key instead.
    "ALTER TABLE user_ids ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
     UPDATE user_ids SET runs =
         (SELECT count(*) FROM user_totals WHERE user_totals.user = user_ids.id);
     DELETE FROM user_ids WHERE runs = 0;
     DROP INDEX user_totals_by_user;",
];

/// How long a write waits for a lock before it gives up (and the run goes
/// on without it).
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// What went wrong with the history file. Never holds a secret; the path
/// is the data directory's.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// SQLite failed (full disk, locked, corrupt, read-only...).
    #[error("the history {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer warden.
    #[error(
        "the history {path} has schema version {found}, newer than this warden's {known}: it is left untouched"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest this build knows.
        known: usize,
    },
    /// The file could not be created.
    #[error("the history {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No history file (yet).
    #[error("no history yet: {0} does not exist (the daemon writes it after each run)")]
    Missing(PathBuf),
    /// The history store's lock was poisoned by a panic.
    #[error("the history is unavailable after an internal error")]
    Poisoned,
    /// The blocking task did not finish.
    #[error("the history task failed: {0}")]
    Task(String),
}

/// A recorded run, as the queries give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    /// Its row ID.
    pub id: i64,
    /// When it started (Unix ms).
    pub started_ms: u64,
    /// Whether it saw every user.
    pub complete: bool,
    /// Users with media.
    pub users: u64,
    /// Bytes.
    pub bytes: u64,
    /// Media.
    pub media: u64,
    /// A user not recorded at this run had at most this many bytes.
    pub floor_bytes: u64,
}

/// The history file, open.
#[derive(Debug)]
pub struct HistoryStore {
    conn: Connection,
    path: PathBuf,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl HistoryStore {
    /// Opens (creating it if needed) and migrates the file at `path`.
    /// A new file is created `0600` (SQLite gives its `-wal` and `-shm`
    /// files the same mode).
    pub fn open(path: &Path) -> Result<HistoryStore, HistoryError> {
        crate::private::create_file(path).map_err(|source| HistoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        HistoryStore::setup(conn, path)
    }

    /// Opens an existing file (the command line: no file is no history).
    pub fn open_existing(path: &Path) -> Result<HistoryStore, HistoryError> {
        if !path.exists() {
            return Err(HistoryError::Missing(path.to_owned()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sqlite(path, e))?;
        HistoryStore::setup(conn, path)
    }

    fn setup(conn: Connection, path: &Path) -> Result<HistoryStore, HistoryError> {
        let err = |e| sqlite(path, e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let mut store = HistoryStore {
            conn,
            path: path.to_owned(),
        };
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if version > MIGRATIONS.len() as i64 {
            return Err(HistoryError::TooNew {
                path: path.to_owned(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        if version == 0 {
            // Only takes effect before the first table is made: freed pages
            // are given back after thinning.
            store
                .conn
                .pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .map_err(err)?;
        }
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        store
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        store.migrate_to(MIGRATIONS.len())?;
        Ok(store)
    }

    /// Applies the migrations after the file's version, up to `target`
    /// steps (tests stop early to make an old file).
    pub fn migrate_to(&mut self, target: usize) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let err = |e| sqlite(&path, e);
        let version = self.schema_version()?;
        for (i, step) in MIGRATIONS.iter().enumerate().take(target) {
            if (i as i64) < version {
                continue;
            }
            let tx = self.conn.transaction().map_err(err)?;
            tx.execute_batch(step).map_err(err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(err)?;
            tx.commit().map_err(err)?;
            tracing::info!(path = %self.path.display(), version = i + 1, "history schema migrated");
        }
        Ok(())
    }

    /// The file's schema version.
    pub fn schema_version(&self) -> Result<i64, HistoryError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one run, then deletes what `to_delete` says at `now_ms`.
    /// One transaction for the run; the thinning in another.
    pub fn write(
        &mut self,
        record: &RunRecord,
        now_ms: u64,
        keep: Duration,
        thin_after: Duration,
    ) -> Result<usize, HistoryError> {
        let path = self.path.clone();
        let err = |e| sqlite(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO runs (started_ms, complete, partial_reason, users, bytes, media, floor_bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                to_i64(record.started_ms),
                record.is_complete(),
                record.partial,
                to_i64(record.users),
                to_i64(record.bytes),
                to_i64(record.media),
                to_i64(record.floor_bytes),
            ],
        )
        .map_err(err)?;
        let run_id = tx.last_insert_rowid();
        {
            let mut rule = tx
                .prepare_cached(
                    "INSERT INTO rule_counts (run_id, rule, warning, critical) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for RuleCount {
                rule: name,
                warning,
                critical,
            } in &record.rules
            {
                rule.execute(params![run_id, name, to_i64(*warning), to_i64(*critical)])
                    .map_err(err)?;
            }
            // The user's ID, made on first sight, and one more run for it.
            let mut user = tx
                .prepare_cached(
                    "INSERT INTO user_ids (user_id, runs) VALUES (?1, 1)
                     ON CONFLICT (user_id) DO UPDATE SET runs = runs + 1
                     RETURNING id",
                )
                .map_err(err)?;
            let mut total = tx
                .prepare_cached(
                    "INSERT INTO user_totals (run_id, user, bytes, media) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for u in &record.users_recorded {
                let id: i64 = user.query_row([&u.user_id], |r| r.get(0)).map_err(err)?;
                total
                    .execute(params![run_id, id, to_i64(u.bytes), to_i64(u.media)])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.thin(now_ms, keep, thin_after)
    }

    /// Deletes the runs thinning and retention say to delete at `now_ms`;
    /// how many.
    pub fn thin(
        &mut self,
        now_ms: u64,
        keep: Duration,
        thin_after: Duration,
    ) -> Result<usize, HistoryError> {
        let path = self.path.clone();
        let err = |e| sqlite(&path, e);
        let runs = self.rows(
            "SELECT id, started_ms, complete FROM runs ORDER BY started_ms",
            [],
            |r| {
                Ok(Stored {
                    id: r.get(0)?,
                    started_ms: to_u64(r.get(1)?),
                    complete: r.get(2)?,
                })
            },
        )?;
        let delete = thin::to_delete(&runs, now_ms, keep, thin_after);
        if delete.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut runs = tx
                .prepare_cached("DELETE FROM runs WHERE id = ?1")
                .map_err(err)?;
            let mut rules = tx
                .prepare_cached("DELETE FROM rule_counts WHERE run_id = ?1")
                .map_err(err)?;
            // The run's users count one run fewer; those left with none
            // are forgotten. Only the run's own rows are read: its primary
            // key range.
            let mut fewer = tx
                .prepare_cached(
                    "UPDATE user_ids SET runs = runs - 1
                     WHERE id IN (SELECT user FROM user_totals WHERE run_id = ?1)",
                )
                .map_err(err)?;
            let mut forget = tx
                .prepare_cached(
                    "DELETE FROM user_ids
                     WHERE runs <= 0 AND id IN (SELECT user FROM user_totals WHERE run_id = ?1)",
                )
                .map_err(err)?;
            let mut users = tx
                .prepare_cached("DELETE FROM user_totals WHERE run_id = ?1")
                .map_err(err)?;
            for id in &delete {
                runs.execute([id]).map_err(err)?;
                rules.execute([id]).map_err(err)?;
                fewer.execute([id]).map_err(err)?;
                forget.execute([id]).map_err(err)?;
                users.execute([id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.conn
            .execute_batch("PRAGMA incremental_vacuum;")
            .map_err(err)?;
        Ok(delete.len())
    }

    /// Every row `sql` gives with `params`, each made by `row`: the one
    /// place a read prepares (cached), steps and maps its errors.
    fn rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, HistoryError> {
        let err = |e| sqlite(&self.path, e);
        let mut q = self.conn.prepare_cached(sql).map_err(err)?;
        q.query_map(params, row)
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)
    }

    fn run_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRun> {
        Ok(StoredRun {
            id: r.get(0)?,
            started_ms: to_u64(r.get(1)?),
            complete: r.get(2)?,
            users: to_u64(r.get(3)?),
            bytes: to_u64(r.get(4)?),
            media: to_u64(r.get(5)?),
            floor_bytes: to_u64(r.get(6)?),
        })
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<StoredRun>, HistoryError> {
        self.rows(
            "SELECT id, started_ms, complete, users, bytes, media, floor_bytes
             FROM runs ORDER BY started_ms, id",
            [],
            HistoryStore::run_from,
        )
    }

    /// The complete runs that started at or after `from_ms`, oldest first.
    pub fn complete_runs_since(&self, from_ms: u64) -> Result<Vec<StoredRun>, HistoryError> {
        self.rows(
            "SELECT id, started_ms, complete, users, bytes, media, floor_bytes
             FROM runs WHERE complete AND started_ms >= ?1 ORDER BY started_ms, id",
            [to_i64(from_ms)],
            HistoryStore::run_from,
        )
    }

    /// The server's bytes at each complete run since `from_ms`.
    pub fn server_points(&self, from_ms: u64) -> Result<Vec<Point>, HistoryError> {
        Ok(self
            .complete_runs_since(from_ms)?
            .into_iter()
            .map(|r| Point {
                at_ms: r.started_ms,
                bytes: r.bytes,
            })
            .collect())
    }

    /// `user_id`'s bytes at each complete run since `from_ms` that
    /// recorded them.
    pub fn user_points(&self, user_id: &str, from_ms: u64) -> Result<Vec<Point>, HistoryError> {
        self.rows(
            // The user's ID, then the runs in the window, then the user's
            // row in each by primary key (CROSS JOIN keeps that order: no
            // index leads from a user to its rows).
            "SELECT runs.started_ms, user_totals.bytes
             FROM user_ids
             CROSS JOIN runs
             CROSS JOIN user_totals
             WHERE user_ids.user_id = ?1
               AND runs.complete AND runs.started_ms >= ?2
               AND user_totals.run_id = runs.id AND user_totals.user = user_ids.id
             ORDER BY runs.started_ms",
            params![user_id, to_i64(from_ms)],
            |r| {
                Ok(Point {
                    at_ms: to_u64(r.get(0)?),
                    bytes: to_u64(r.get(1)?),
                })
            },
        )
    }

    /// The users recorded at run `run_id`.
    pub fn users_at(&self, run_id: i64) -> Result<Vec<UserTotal>, HistoryError> {
        self.rows(
            "SELECT user_ids.user_id, user_totals.bytes, user_totals.media
             FROM user_totals JOIN user_ids ON user_ids.id = user_totals.user
             WHERE user_totals.run_id = ?1",
            [run_id],
            |r| {
                Ok(UserTotal {
                    user_id: r.get(0)?,
                    bytes: to_u64(r.get(1)?),
                    media: to_u64(r.get(2)?),
                })
            },
        )
    }

    /// The violations per rule at run `run_id`.
    pub fn rules_at(&self, run_id: i64) -> Result<Vec<RuleCount>, HistoryError> {
        self.rows(
            "SELECT rule, warning, critical FROM rule_counts WHERE run_id = ?1 ORDER BY rule",
            [run_id],
            |r| {
                Ok(RuleCount {
                    rule: r.get(0)?,
                    warning: to_u64(r.get(1)?),
                    critical: to_u64(r.get(2)?),
                })
            },
        )
    }

    /// The latest complete run that started at or before `at_ms`, if any.
    pub fn complete_run_at_or_before(&self, at_ms: u64) -> Result<Option<StoredRun>, HistoryError> {
        let err = |e| sqlite(&self.path, e);
        self.conn
            .query_row(
                "SELECT id, started_ms, complete, users, bytes, media, floor_bytes
                 FROM runs WHERE complete AND started_ms <= ?1
                 ORDER BY started_ms DESC, id DESC LIMIT 1",
                [to_i64(at_ms)],
                HistoryStore::run_from,
            )
            .optional()
            .map_err(err)
    }

    /// The two runs `growth` compares up to `end_ms`: the last complete
    /// run at or before `start_ms` (else, a history shorter than the span,
    /// its first complete run) and the last complete run at or before
    /// `end_ms`, each with its users.
    pub fn growth_runs(
        &self,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<(Option<RunUsers>, Option<RunUsers>), HistoryError> {
        let users_of = |run: Option<StoredRun>| {
            run.map(|r| {
                Ok::<_, HistoryError>(RunUsers {
                    started_ms: r.started_ms,
                    floor_bytes: r.floor_bytes,
                    users: self.users_at(r.id)?,
                })
            })
            .transpose()
        };
        let start = match self.complete_run_at_or_before(start_ms)? {
            Some(r) => Some(r),
            None => self.complete_runs_since(0)?.into_iter().next(),
        };
        let end = self.complete_run_at_or_before(end_ms)?;
        Ok((users_of(start)?, users_of(end)?))
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> HistoryError {
    HistoryError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

/// The history shared by the daemon's runs and the bot's commands; opened
/// on first use, and again after a failure (a file locked or missing at
/// start does not disable it for good). Every call runs on tokio's
/// blocking pool.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
    store: Arc<Mutex<Option<HistoryStore>>>,
}

impl History {
    /// The history kept in `path` (not opened yet).
    pub fn new(path: PathBuf) -> History {
        History {
            path,
            store: Arc::new(Mutex::new(None)),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the store, opening it first if needed. A failure
    /// drops the connection, so the next call opens the file afresh.
    pub async fn with<T, F>(&self, f: F) -> Result<T, HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut HistoryStore) -> Result<T, HistoryError> + Send + 'static,
    {
        let (path, store) = (self.path.clone(), self.store.clone());
        tokio::task::spawn_blocking(move || {
            let mut slot = store.lock().map_err(|_| HistoryError::Poisoned)?;
            if slot.is_none() {
                *slot = Some(HistoryStore::open(&path)?);
            }
            let Some(open) = slot.as_mut() else {
                return Err(HistoryError::Poisoned);
            };
            let result = f(open);
            if matches!(result, Err(HistoryError::Sqlite { .. })) {
                *slot = None;
            }
            result
        })
        .await
        .map_err(|e| HistoryError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests;
