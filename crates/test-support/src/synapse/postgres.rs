//! PostgreSQL: a database per instance, created and dropped with `psql`,
//! those of killed test processes removed; SQL on the instance's database,
//! and the rooms statistics only PostgreSQL serves.

use super::*;

/// A PostgreSQL database owned by one harness instance.
#[derive(Debug)]
pub(crate) struct PgDatabase {
    /// URL of the maintenance database (from `$WARDEN_TEST_PG_URL`).
    pub(crate) admin_url: Url,
    /// URL of the instance's database.
    pub(crate) url: Url,
    pub(crate) name: String,
}

impl SynapseHarness {
    /// Makes `GET /_synapse/admin/v1/statistics/database/rooms` answer 200
    /// with rooms on this (PostgreSQL) server, and returns that answer.
    ///
    /// A fresh Synapse answers 500: the estimate reads PostgreSQL's
    /// `pg_stats.most_common_vals` of `room_id` in `event_json`, `events`,
    /// `event_search`, `event_edges`, `event_push_actions`,
    /// `stream_ordering_to_exterm` and `state_groups_state`, and fails if one
    /// of them has no statistics row (never analyzed or empty) or a NULL list
    /// (`event_edges.room_id` is no longer written). So this registers three
    /// users, creates traffic in three two-member rooms (different amounts,
    /// each message mentioning the other member so that `event_push_actions`
    /// gets rows), copies `room_id` into `event_edges` from `events` (as an
    /// older server would have it) and runs `ANALYZE`.
    pub async fn enable_rooms_statistics(&self) -> Result<Vec<RoomSizeEstimate>> {
        ensure!(
            self.backend == Backend::Postgres,
            "the rooms statistics endpoint requires PostgreSQL; this harness runs {}",
            self.backend
        );
        let n = self.next_txn.fetch_add(1, Ordering::Relaxed);
        let password = "rooms-statistics";
        let admin = self
            .register(&format!("rooms-stats-admin-{n}"), password, true)
            .await?;
        let alice = self
            .register(&format!("rooms-stats-alice-{n}"), password, false)
            .await?;
        let bob = self
            .register(&format!("rooms-stats-bob-{n}"), password, false)
            .await?;
        for (room, messages) in [(0, 12), (1, 8), (2, 4)] {
            let room_id = self
                .create_room(
                    &alice,
                    &format!("Rooms statistics {room}"),
                    false,
                    &[&bob.user_id],
                )
                .await?;
            self.join_room(&bob, &room_id).await?;
            for k in 0..messages {
                let (from, to) = if k % 2 == 0 {
                    (&alice, &bob)
                } else {
                    (&bob, &alice)
                };
                self.send_text(from, &room_id, &format!("{}: message {k}", to.localpart()))
                    .await?;
            }
        }
        self.psql(
            "UPDATE event_edges SET room_id = e.room_id FROM events e \
             WHERE e.event_id = event_edges.event_id AND event_edges.room_id IS NULL;\n\
             ANALYZE;",
        )
        .await
        .context("filling event_edges.room_id and analyzing")?;

        let path = "/_synapse/admin/v1/statistics/database/rooms";
        let (status, body) = self.get_json(&admin, path).await?;
        ensure!(
            status == StatusCode::OK,
            "GET {path} still answers {status} after creating traffic and ANALYZE: {body}\n\
             last lines of Synapse's log:\n{}",
            self.log_tail(30)
        );
        let rooms = parse_rooms(&body).with_context(|| format!("GET {path} answered {body}"))?;
        ensure!(
            !rooms.is_empty(),
            "GET {path} answered 200 with no rooms: {body}"
        );
        Ok(rooms)
    }

    /// Runs SQL (one or more statements) in the instance's PostgreSQL
    /// database through `psql -XqtA -v ON_ERROR_STOP=1`; returns what it
    /// printed: one line per row, columns separated by `|`.
    pub async fn psql(&self, sql: &str) -> Result<String> {
        let pg = self.pg.as_ref().ok_or_else(|| {
            anyhow!(
                "psql() needs the PostgreSQL backend; this harness runs {}",
                self.backend
            )
        })?;
        run_psql(&pg.url, sql)
            .await
            .with_context(|| format!("running SQL in database {}", pg.name))
    }
}

/// `$WARDEN_TEST_PG_URL`, else [`DEFAULT_PG_URL`].
pub fn pg_admin_url() -> Result<Url> {
    let text = std::env::var("WARDEN_TEST_PG_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.to_owned());
    let url = Url::parse(&text).context("parsing WARDEN_TEST_PG_URL")?;
    ensure!(
        matches!(url.scheme(), "postgresql" | "postgres"),
        "WARDEN_TEST_PG_URL must be a postgresql:// URL"
    );
    Ok(url)
}

pub(crate) static PG_DB_COUNTER: AtomicU64 = AtomicU64::new(0);
pub(crate) static PG_STALE_CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

pub(crate) async fn create_pg_database() -> Result<PgDatabase> {
    let admin_url = pg_admin_url()?;
    PG_STALE_CLEANED
        .get_or_init(|| async {
            if let Err(err) = drop_stale_pg_databases(&admin_url).await {
                eprintln!("synapse harness: could not drop stale test databases: {err:#}");
            }
        })
        .await;
    let name = format!(
        "{PG_DB_PREFIX}{}_{}",
        std::process::id(),
        PG_DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    run_psql(
        &admin_url,
        &format!(
            "DROP DATABASE IF EXISTS \"{name}\";\n\
             CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0;"
        ),
    )
    .await
    .with_context(|| {
        format!(
            "creating PostgreSQL database {name} (is PostgreSQL running and does the role of \
             WARDEN_TEST_PG_URL have CREATEDB? scripts/test sets that up)"
        )
    })?;
    let mut url = admin_url.clone();
    url.set_path(&format!("/{name}"));
    Ok(PgDatabase {
        admin_url,
        url,
        name,
    })
}

/// Drops `warden_test_<pid>_<n>` databases whose process is gone, when the
/// server is on this machine.
pub(crate) async fn drop_stale_pg_databases(admin_url: &Url) -> Result<()> {
    let local = matches!(
        admin_url.host_str(),
        None | Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    );
    if !local {
        return Ok(());
    }
    let names = run_psql(
        admin_url,
        "SELECT datname FROM pg_database WHERE datname LIKE 'warden\\_test\\_%';",
    )
    .await?;
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let Some(pid) = name
            .strip_prefix(PG_DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == std::process::id() || process_alive(pid) {
            continue;
        }
        if let Err(err) = run_psql(
            admin_url,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);"),
        )
        .await
        {
            eprintln!("synapse harness: could not drop stale database {name}: {err:#}");
        }
    }
    Ok(())
}

/// Removes the temporary directories of test processes that died without
/// cleaning up (killed, so `Drop` never ran), once per process.
pub(crate) fn remove_stale_dirs_once() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|name| name.strip_prefix(DIR_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<i32>().ok())
            else {
                continue;
            };
            if pid as u32 != std::process::id() && !process_alive(pid) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
}

pub(crate) fn process_alive(pid: i32) -> bool {
    // A zombie (killed, not yet reaped) is dead for our purposes.
    #[cfg(target_os = "linux")]
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        return !rest.trim_start().starts_with('Z');
    }
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

pub(crate) fn psql_command(url: &Url) -> Command {
    let mut command = Command::new("psql");
    command
        .arg(url.as_str())
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
        .env("PGCONNECT_TIMEOUT", "10");
    command
}

/// Runs SQL through `psql`, SQL on stdin; returns stdout.
pub(crate) async fn run_psql(url: &Url, sql: &str) -> Result<String> {
    let mut child = tokio::process::Command::from(psql_command(url))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running psql (is the PostgreSQL client installed?)")?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("psql has no stdin"))?;
    let sql = sql.to_owned();
    let writer = tokio::spawn(async move {
        let result = stdin.write_all(sql.as_bytes()).await;
        drop(stdin);
        result
    });
    let output = child.wait_with_output().await.context("waiting for psql")?;
    let written = writer.await.context("the psql stdin writer panicked")?;
    ensure!(
        output.status.success(),
        "psql failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    written.context("writing SQL to psql")?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned())
}

/// Synchronous, for `Drop`: `DROP DATABASE ... WITH (FORCE)`.
pub(crate) fn drop_pg_database_blocking(admin_url: &Url, name: &str) -> Result<()> {
    let output = psql_command(admin_url)
        .arg("-c")
        .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);"))
        .stdin(Stdio::null())
        .output()
        .context("running psql")?;
    ensure!(
        output.status.success(),
        "psql failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}
