//! Benchmark of a full `check` at Synapse's own speed limit, side by side in
//! one run, on a real PostgreSQL Synapse seeded by SQL:
//!
//! ```text
//! cargo bench --bench check -- [--users 20000,200000] [--media 10]
//! ```
//!
//! For each user count it measures, one after the other on the same server:
//!
//! - a plain HTTP loop at `limit=100` (Synapse's documented default)
//!   following `next_token` — skipped above 50 000 users, where it takes
//!   hours;
//! - one request with `limit >= total`, the lower bound (every page costs
//!   Synapse two aggregations over all local media, so one page is the
//!   least work);
//! - `synapse-warden check` with default settings (the release binary), its
//!   wall time and its peak RSS (from `wait4`).
//!
//! It checks that all three saw the same users and byte totals, and prints
//! the times, the ratios and the bars of the performance issue.
//!
//! For the last (largest) user count it then measures `!stats top 10
//! media_length` in the admin room: it registers a bot, creates an
//! unencrypted room where the admin invites it, starts the release binary's
//! `synapse-warden run`, waits for its first run, and sends the command 20
//! times as the admin (plain client-server API), one after another (paced by
//! the bot's rate limit: 5 per 30 s, in bursts of 5 each sent as soon as
//! the previous reply is seen). For each it finds the bot's reply (an
//! `m.in_reply_to` the command) through a `/sync` long-poll and takes the
//! latency from Synapse's clock (reply `origin_server_ts` - command
//! `origin_server_ts`) and from the wall clock (send to reply seen); checks
//! that each reply lists the ten largest seeded users and says how old its
//! data is; and times one live ordered call to Synapse
//! (`order_by=media_length&dir=b&limit=10`), what the answer would cost
//! without the daemon's snapshot. SIGTERM stops the daemon at the end.

#[path = "../tests/it/support/synapse.rs"]
mod synapse;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use synapse::{Backend, SeedReport, SynapseHarness, TestUser, seeded_media_length, seeded_user_id};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");

/// The command measured in the admin room, and how many times.
const TOP_COMMAND: &str = "!stats top 10 media_length";
const TOP_TIMES: usize = 20;
/// The bar: median and 95th percentile reply time (Synapse's clock).
const TOP_BAR_MS: u64 = 300;
/// The bot's rate limit per sender (`RateLimit::default()`): a burst of 5,
/// one more every 30 s / 5. The pacing here refills a little slower, so the
/// bot, which counts at arrival, always has a token.
const BOT_BURST: f64 = 5.0;
const BOT_REFILL: Duration = Duration::from_millis(6_200);

struct Args {
    users: Vec<u64>,
    media: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        users: vec![20_000, 200_000],
        media: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--users" => {
                args.users = it
                    .next()
                    .context("--users N[,N...]")?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--media" => args.media = it.next().context("--media M")?.parse()?,
            _ => {}
        }
    }
    Ok(args)
}

struct Row {
    users: u64,
    loop_100: Option<Duration>,
    one_page: Duration,
    check: Duration,
    check_rss_kib: i64,
    top: Option<TopRow>,
}

/// `!stats top 10 media_length` in the admin room.
struct TopRow {
    /// Reply `origin_server_ts` - command `origin_server_ts`, per command.
    server_ms: Vec<u64>,
    /// Send to reply seen, per command.
    wall: Vec<Duration>,
    /// The data's age each reply stated (first, last).
    ages: (String, String),
    /// One live ordered, limited call to Synapse.
    live: Duration,
    /// The daemon's first run (walk and snapshot), from its metrics.
    first_run_s: Option<f64>,
    /// From start to ready and the first run done.
    startup: Duration,
    /// SIGTERM to exit.
    stop: Duration,
}

/// Follows `next_token` at `limit`; returns (users, bytes).
async fn plain_loop(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    limit: u64,
) -> Result<(u64, u64)> {
    let (mut users, mut bytes, mut from) = (0u64, 0u64, 0u64);
    loop {
        let page: Value = http
            .get(format!("{base}/_synapse/admin/v1/statistics/users/media"))
            .query(&[("limit", limit), ("from", from)])
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let list = page["users"].as_array().context("users")?;
        users += list.len() as u64;
        bytes += list
            .iter()
            .map(|u| u["media_length"].as_u64().unwrap_or(0))
            .sum::<u64>();
        match page["next_token"].as_u64() {
            Some(next) if !list.is_empty() && next > from => from = next,
            _ => return Ok((users, bytes)),
        }
    }
}

/// Runs the release binary's `check`; returns (wall time, peak RSS in KiB,
/// JSON report). The peak is the kernel's `VmHWM` of the child, read until it
/// exits (`ru_maxrss` would also count the pages of this process at fork).
fn run_check(config: &std::path::Path) -> Result<(Duration, i64, Value)> {
    let started = Instant::now();
    let mut child = std::process::Command::new(BIN)
        .args(["check", "--format", "json", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("starting synapse-warden check")?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).map(|_| out)
    });
    let mut peak_kib = 0i64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: i64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading check's output"))??;
    ensure!(
        matches!(status.code(), Some(0 | 1)),
        "check exited with {status}: {out}"
    );
    Ok((
        took,
        peak_kib,
        serde_json::from_str(&out).context("check's JSON")?,
    ))
}

async fn measure(n: u64, media: u64, with_top: bool) -> Result<Row> {
    eprintln!("== {n} users x {media} media: starting PostgreSQL Synapse and seeding by SQL");
    let h = SynapseHarness::start(Backend::Postgres).await?;
    let admin = h.register("bench-admin", "bench-password", true).await?;
    let seeded = h.seed_media_sql(n, media).await?;
    h.psql("ANALYZE;").await?;
    let base = h.base_url().as_str().trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;

    // A rule that exactly the ten largest users break.
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("token"), &admin.access_token)?;
    let limit = seeded_media_length(n - 10, media);
    let config = dir.path().join("policies.yaml");
    std::fs::write(
        &config,
        format!(
            "synapse:\n  url: {base}\n  token: {{file: {}}}\n  timeout: 30m\nrules:\n  user_media:\n    - name: quota\n      max_media_length: {limit} B\n",
            dir.path().join("token").display()
        ),
    )?;

    let loop_100 = if n <= 50_000 {
        eprintln!("   plain loop at limit=100...");
        let started = Instant::now();
        let (users, bytes) = plain_loop(&http, &base, &admin.access_token, 100).await?;
        ensure!(
            users == seeded.users && bytes == seeded.total_bytes,
            "loop at 100 saw {users} users / {bytes} bytes"
        );
        Some(started.elapsed())
    } else {
        None
    };

    eprintln!("   one request with limit >= total...");
    let started = Instant::now();
    let (users, bytes) = plain_loop(&http, &base, &admin.access_token, n + 1).await?;
    let one_page = started.elapsed();
    ensure!(
        users == seeded.users && bytes == seeded.total_bytes,
        "one page saw {users} users / {bytes} bytes"
    );

    eprintln!("   synapse-warden check (release, default settings)...");
    let (check, rss, report) = run_check(&config)?;
    let walk = &report["summary"]["walks"][0];
    ensure!(
        walk["users"].as_u64() == Some(seeded.users)
            && walk["bytes"].as_u64() == Some(seeded.total_bytes),
        "check saw {walk}, seeded {} users / {} bytes",
        seeded.users,
        seeded.total_bytes
    );
    if std::env::var_os("WARDEN_BENCH_HOLD").is_some() {
        eprintln!("holding: {BIN} check --config {}", config.display());
        tokio::time::sleep(Duration::from_secs(900)).await;
    }
    let violations = report["summary"]["violations"].as_u64();
    if violations != Some(10) {
        bail!("check found {violations:?} violations, expected the 10 largest users");
    }
    let top = if with_top {
        Some(measure_top(&h, &admin, &seeded, limit).await?)
    } else {
        None
    };
    Ok(Row {
        users: n,
        loop_100,
        one_page,
        check,
        check_rss_kib: rss,
        top,
    })
}

/// `synapse-warden run`, killed on drop unless it has exited.
struct Daemon(std::process::Child);

impl Daemon {
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, sig);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A `/sync` long-poll of one room, as one user.
struct RoomSync {
    http: reqwest::Client,
    url: String,
    token: String,
    filter: String,
    since: String,
}

impl RoomSync {
    /// Starts after everything the room holds now.
    async fn start(base: &str, user: &TestUser, room_id: &str) -> Result<RoomSync> {
        let filter = serde_json::json!({
            "presence": { "types": [] },
            "account_data": { "types": [] },
            "room": {
                "rooms": [room_id],
                "timeline": { "limit": 100 },
                "state": { "lazy_load_members": true },
                "ephemeral": { "types": [] },
                "account_data": { "types": [] },
            },
        })
        .to_string();
        let mut sync = RoomSync {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?,
            url: format!("{base}/_matrix/client/v3/sync"),
            token: user.access_token.clone(),
            filter,
            since: String::new(),
        };
        sync.next(Duration::ZERO, room_id).await?;
        Ok(sync)
    }

    /// The room's new timeline events, waiting up to `wait` for one.
    async fn next(&mut self, wait: Duration, room_id: &str) -> Result<Vec<Value>> {
        let timeout = wait.as_millis().to_string();
        let mut query = vec![
            ("timeout", timeout.as_str()),
            ("filter", self.filter.as_str()),
        ];
        if !self.since.is_empty() {
            query.push(("since", self.since.as_str()));
        }
        let answer: Value = self
            .http
            .get(&self.url)
            .query(&query)
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        self.since = answer["next_batch"]
            .as_str()
            .context("sync without next_batch")?
            .to_owned();
        Ok(answer["rooms"]["join"][room_id]["timeline"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Syncs until an event satisfies `found`, for at most `within`; returns
    /// it and every event seen on the way.
    async fn until(
        &mut self,
        room_id: &str,
        within: Duration,
        what: &str,
        found: impl Fn(&Value) -> bool,
    ) -> Result<(Value, Vec<Value>)> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(!left.is_zero(), "timed out waiting for {what}");
            let events = self
                .next(left.min(Duration::from_secs(30)), room_id)
                .await?;
            for event in events {
                if found(&event) {
                    return Ok((event, seen));
                }
                seen.push(event);
            }
        }
    }
}

/// The value of an un-labelled metric line `name value`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn get_text(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `!stats top 10 media_length` answered by `synapse-warden run` in the
/// admin room; see the module docs.
async fn measure_top(
    h: &SynapseHarness,
    admin: &TestUser,
    seeded: &SeedReport,
    limit: u64,
) -> Result<TopRow> {
    let n = seeded.users;
    let base = h.base_url().as_str().trim_end_matches('/').to_owned();
    eprintln!("   {TOP_COMMAND}: bot, admin room, synapse-warden run (release)...");
    let bot = h.register("warden", "bot-password", false).await?;
    let room_id = h
        .create_room(admin, "Synapse admins", false, &[&bot.user_id])
        .await?;

    // What the answer would cost without the snapshot: one ordered, limited
    // call to Synapse.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let started = Instant::now();
    let live: Value = http
        .get(format!("{base}/_synapse/admin/v1/statistics/users/media"))
        .query(&[("order_by", "media_length"), ("dir", "b"), ("limit", "10")])
        .bearer_auth(&admin.access_token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let live_took = started.elapsed();
    let live_ids: Vec<&str> = live["users"]
        .as_array()
        .context("users")?
        .iter()
        .filter_map(|u| u["user_id"].as_str())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| seeded_user_id(n - i)).collect();
    ensure!(
        live_ids == expected,
        "the live call listed {live_ids:?}, expected {expected:?}"
    );

    let dir = tempfile::tempdir()?;
    let secret = |name: &str, value: &str| -> Result<String> {
        let path = dir.path().join(name);
        std::fs::write(&path, value)?;
        Ok(path.display().to_string())
    };
    let listen = format!("127.0.0.1:{}", free_port()?);
    let policy = dir.path().join("policies.yaml");
    std::fs::write(
        &policy,
        format!(
            "synapse:\n  url: {base}\n  token: {{file: {token}}}\n  timeout: 30m\n\
             schedule:\n  every: 1h\n\
             matrix:\n  homeserver: {base}\n  user: \"{bot_id}\"\n  password: {{file: {password}}}\n  room: \"{room_id}\"\n  data_dir: {data}\n  store_passphrase: {{file: {passphrase}}}\n\
             http:\n  listen: {listen}\n\
             rules:\n  user_media:\n    - name: quota\n      max_media_length: {limit} B\n",
            token = secret("admin-token", &admin.access_token)?,
            password = secret("bot-password", "bot-password")?,
            passphrase = secret("store-passphrase", "a store passphrase")?,
            bot_id = bot.user_id,
            data = dir.path().join("data").display(),
        ),
    )?;
    let log = dir.path().join("daemon.log");

    let mut sync = RoomSync::start(&base, admin, &room_id).await?;
    let startup = Instant::now();
    let mut daemon = Daemon(
        std::process::Command::new(BIN)
            .args(["run", "--config"])
            .arg(&policy)
            .env(
                "RUST_LOG",
                "info,matrix_sdk=warn,matrix_sdk_crypto=warn,matrix_sdk_base=warn",
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting synapse-warden run")?,
    );
    let fail = |what: String| anyhow::anyhow!("{what}; the daemon's log ends:\n{}", tail(&log, 40));

    // Ready (Synapse answered, the bot synced), the first run done, and its
    // alert in the room.
    let deadline = Instant::now() + Duration::from_secs(900);
    let first_run_s = loop {
        if let Some(status) = daemon.0.try_wait()? {
            return Err(fail(format!("synapse-warden run exited with {status}")));
        }
        let (ready, _) = get_text(&format!("http://{listen}/ready")).await;
        let (_, metrics) = get_text(&format!("http://{listen}/metrics")).await;
        if ready == 200
            && metric(
                &metrics,
                "synapse_warden_last_complete_run_timestamp_seconds",
            )
            .unwrap_or(0.0)
                > 0.0
        {
            break metric(&metrics, "synapse_warden_walk_duration_seconds_sum");
        }
        if Instant::now() > deadline {
            return Err(fail(
                "the daemon was not ready with a first run within 900 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let bot_id = bot.user_id.clone();
    sync.until(
        &room_id,
        Duration::from_secs(120),
        "the bot's first alert",
        |e| {
            e["sender"] == bot_id.as_str()
                && e["type"] == "m.room.message"
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("quota"))
        },
    )
    .await
    .map_err(|e| fail(format!("{e:#}")))?;
    let startup = startup.elapsed();
    eprintln!(
        "   daemon ready, first run done and its alert posted after {:.1} s; sending {TOP_TIMES} commands...",
        startup.as_secs_f64()
    );

    let mut server_ms = Vec::new();
    let mut wall = Vec::new();
    let mut ages = Vec::new();
    let (mut tokens, mut refilled) = (BOT_BURST, Instant::now());
    for i in 0..TOP_TIMES {
        // Pace by the bot's rate limit: bursts of commands each sent as
        // soon as the previous reply is seen (the case where matrix-sdk's
        // own sync loop would sleep up to a second), then a wait for a full
        // bucket.
        tokens =
            (tokens + refilled.elapsed().as_secs_f64() / BOT_REFILL.as_secs_f64()).min(BOT_BURST);
        refilled = Instant::now();
        if tokens < 1.0 {
            tokio::time::sleep(BOT_REFILL.mul_f64(BOT_BURST - tokens)).await;
            tokens = BOT_BURST;
            refilled = Instant::now();
        }
        tokens -= 1.0;

        let sent = Instant::now();
        let command_id = http
            .put(format!(
                "{base}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/bench-top-{i}"
            ))
            .bearer_auth(&admin.access_token)
            .json(&serde_json::json!({ "msgtype": "m.text", "body": TOP_COMMAND }))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?["event_id"]
            .as_str()
            .context("send without event_id")?
            .to_owned();
        let (reply, seen) = sync
            .until(
                &room_id,
                Duration::from_secs(60),
                &format!("the reply to command {}", i + 1),
                |e| {
                    e["sender"] == bot_id.as_str()
                        && e["type"] == "m.room.message"
                        && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
                            == command_id.as_str()
                },
            )
            .await
            .map_err(|e| fail(format!("{e:#}")))?;
        let took = sent.elapsed();
        let command_ts = match seen.iter().find(|e| e["event_id"] == command_id.as_str()) {
            Some(e) => e["origin_server_ts"].as_u64(),
            None => {
                let (_, e) = h
                    .get_json(
                        admin,
                        &format!("/_matrix/client/v3/rooms/{room_id}/event/{command_id}"),
                    )
                    .await?;
                e["origin_server_ts"].as_u64()
            }
        }
        .context("the command's origin_server_ts")?;
        let reply_ts = reply["origin_server_ts"]
            .as_u64()
            .context("the reply's origin_server_ts")?;

        // The ten largest seeded users, largest first, and the data's age.
        let body = reply["content"]["body"].as_str().unwrap_or_default();
        let head = "Top 10 users by media size (all uploads), from the last walk, ";
        let age = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix(head))
            .and_then(|l| l.strip_suffix(" ago:"))
            .with_context(|| {
                format!("reply {} does not say how old its data is:\n{body}", i + 1)
            })?;
        let lines: Vec<&str> = body.lines().skip(1).take(10).collect();
        for (k, line) in lines.iter().enumerate() {
            ensure!(
                line.starts_with(&format!("{:>2}. {} ", k + 1, seeded_user_id(n - k as u64))),
                "reply {} line {} is {line:?}, expected {}:\n{body}",
                i + 1,
                k + 1,
                seeded_user_id(n - k as u64)
            );
        }
        ensure!(
            lines.len() == 10,
            "reply {} lists {} users:\n{body}",
            i + 1,
            lines.len()
        );
        ages.push(age.to_owned());
        server_ms.push(reply_ts.saturating_sub(command_ts));
        wall.push(took);
    }

    eprintln!("   SIGTERM...");
    let stopping = Instant::now();
    daemon.signal(libc::SIGTERM);
    let status = loop {
        if let Some(status) = daemon.0.try_wait()? {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(15) {
            return Err(fail(
                "the daemon did not exit within 15 s of SIGTERM".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stop = stopping.elapsed();
    ensure!(
        status.success(),
        "synapse-warden run exited with {status} on SIGTERM"
    );
    Ok(TopRow {
        server_ms,
        wall,
        ages: (
            ages.first().cloned().unwrap_or_default(),
            ages.last().cloned().unwrap_or_default(),
        ),
        live: live_took,
        first_run_s,
        startup,
        stop,
    })
}

/// The median (the upper one of an even count), the 95th percentile
/// (nearest rank) and the maximum.
fn percentiles<T: Ord + Copy>(values: &[T]) -> Option<(T, T, T)> {
    let mut v = values.to_vec();
    v.sort();
    let rank95 = (v.len() * 95).div_ceil(100).max(1) - 1;
    Some((*v.get(v.len() / 2)?, *v.get(rank95)?, *v.last()?))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/check.rs: not run under `cargo test`; use `cargo bench --bench check`");
        return Ok(());
    }
    let args = parse_args()?;
    let mut rows = Vec::new();
    for (i, &n) in args.users.iter().enumerate() {
        rows.push(measure(n, args.media, i + 1 == args.users.len()).await?);
    }
    println!(
        "\nsynapse-warden check against PostgreSQL Synapse, {} media per user; all runs saw the same users and bytes",
        args.media
    );
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>11} {:>14} {:>12}",
        "users", "limit=100 s", "1 page s", "check s", "check/page", "limit100/check", "check RSS"
    );
    for r in &rows {
        let l = r
            .loop_100
            .map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64()));
        let speedup = r.loop_100.map_or("-".to_owned(), |d| {
            format!("{:.1}x", d.as_secs_f64() / r.check.as_secs_f64())
        });
        println!(
            "{:>8} {:>12} {:>10.3} {:>10.3} {:>10.2}x {:>14} {:>9.1} MB",
            r.users,
            l,
            r.one_page.as_secs_f64(),
            r.check.as_secs_f64(),
            r.check.as_secs_f64() / r.one_page.as_secs_f64(),
            speedup,
            r.check_rss_kib as f64 / 1024.0
        );
    }
    for r in &rows {
        let Some(t) = &r.top else { continue };
        let (Some((s_med, s_p95, s_max)), Some((w_med, w_p95, w_max))) =
            (percentiles(&t.server_ms), percentiles(&t.wall))
        else {
            continue;
        };
        println!(
            "\n{TOP_COMMAND} in the admin room, {} users, {} commands one after another; all replies listed the 10 largest users and said how old their data was ({} .. {})",
            r.users,
            t.server_ms.len(),
            t.ages.0,
            t.ages.1
        );
        println!(
            "  command to reply, Synapse's clock (origin_server_ts): median {s_med} ms, p95 {s_p95} ms, max {s_max} ms"
        );
        println!(
            "  send to reply seen, wall clock:                       median {} ms, p95 {} ms, max {} ms",
            w_med.as_millis(),
            w_p95.as_millis(),
            w_max.as_millis()
        );
        println!(
            "  one live call (order_by=media_length&dir=b&limit=10): {} ms, {:.0}x the median reply",
            t.live.as_millis(),
            t.live.as_secs_f64() * 1000.0 / (s_med.max(1) as f64)
        );
        let first = t
            .first_run_s
            .map_or("-".to_owned(), |s| format!("{s:.2} s"));
        println!(
            "  daemon: ready with its first run ({first} walk) and alert after {:.1} s; exited {:.2} s after SIGTERM",
            t.startup.as_secs_f64(),
            t.stop.as_secs_f64()
        );
        println!("  per command, Synapse's clock (ms): {:?}", t.server_ms);
    }
    println!("\nbars:");
    for r in &rows {
        let ratio = r.check.as_secs_f64() / r.one_page.as_secs_f64();
        println!(
            "  {} users: check at most 1.5x one page: {:.2}x {}",
            r.users,
            ratio,
            verdict(ratio <= 1.5)
        );
        if let Some(l) = r.loop_100 {
            let s = l.as_secs_f64() / r.check.as_secs_f64();
            println!(
                "  {} users: check at least 30x faster than limit=100: {s:.1}x {}",
                r.users,
                verdict(s >= 30.0)
            );
        }
        let mb = r.check_rss_kib as f64 / 1024.0;
        println!(
            "  {} users: peak RSS under 100 MB: {mb:.1} MB {}",
            r.users,
            verdict(mb < 100.0)
        );
    }
    for r in &rows {
        if let Some((median, p95, max)) = r.top.as_ref().and_then(|t| percentiles(&t.server_ms)) {
            println!(
                "  {TOP_COMMAND} median under {TOP_BAR_MS} ms at {} users: {median} ms {}",
                r.users,
                verdict(median < TOP_BAR_MS)
            );
            println!(
                "  {TOP_COMMAND} p95 under {TOP_BAR_MS} ms at {} users: {p95} ms (max {max} ms) {}",
                r.users,
                verdict(p95 < TOP_BAR_MS)
            );
        }
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        let growth = last.check_rss_kib as f64 / first.check_rss_kib as f64;
        println!(
            "  peak RSS at {} users at most 1.5x at {}: {growth:.2}x {}",
            last.users,
            first.users,
            verdict(growth <= 1.5)
        );
    }
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "NOT MET" }
}
