//! Benchmark of `!stats top 10 media_length` answered by `synapse-warden
//! run` in the admin room, on a real PostgreSQL Synapse seeded by SQL:
//!
//! ```text
//! cargo bench --bench top -- [--users 200000] [--media 10]
//! ```
//!
//! It seeds the users (one rule that exactly the ten largest break, as in
//! `cargo bench --bench check`), it registers a bot, creates an
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

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{
    Backend, SeedReport, SynapseHarness, TestUser, seeded_media_length, seeded_user_id,
};

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
    let secret = |name: &str, value: &str| -> Result<std::path::PathBuf> {
        let path = dir.path().join(name);
        std::fs::write(&path, value)?;
        Ok(path)
    };
    let listen = format!("127.0.0.1:{}", free_port()?);
    let policy = dir.path().join("policies.yaml");
    Policy::new(
        &base,
        SecretAt::File(secret("admin-token", &admin.access_token)?),
    )
    .set("synapse.timeout", "30m")
    .set("schedule.every", "1h")
    .bot(
        &base,
        &bot.user_id,
        SecretAt::File(secret("bot-password", "bot-password")?),
        &room_id,
        &dir.path().join("data"),
        SecretAt::File(secret("store-passphrase", "a store passphrase")?),
    )
    .set("http.listen", &listen)
    .set(
        "rules.user_media",
        serde_json::json!([{ "name": "quota", "max_media_length": format!("{limit} B") }]),
    )
    .write(&policy)?;
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

struct Args {
    users: u64,
    media: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        users: 200_000,
        media: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--users" => args.users = it.next().context("--users N")?.parse()?,
            "--media" => args.media = it.next().context("--media M")?.parse()?,
            _ => {}
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/top.rs: not run under `cargo test`; use `cargo bench --bench top`");
        return Ok(());
    }
    let Args { users, media } = parse_args()?;
    eprintln!("== {users} users x {media} media: starting PostgreSQL Synapse and seeding by SQL");
    let h = SynapseHarness::start(Backend::Postgres).await?;
    let admin = h.register("bench-admin", "bench-password", true).await?;
    let seeded = h.seed_media_sql(users, media).await?;
    h.psql("ANALYZE;").await?;
    // A rule that exactly the ten largest users break.
    let limit = seeded_media_length(users - 10, media);
    let t = measure_top(&h, &admin, &seeded, limit).await?;

    let (Some((s_med, s_p95, s_max)), Some((w_med, w_p95, w_max))) =
        (percentiles(&t.server_ms), percentiles(&t.wall))
    else {
        bail!("no reply was measured");
    };
    println!(
        "\n{TOP_COMMAND} in the admin room, {} users, {} commands one after another; all replies listed the 10 largest users and said how old their data was ({} .. {})",
        users,
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
    println!("\nbars:");
    println!(
        "  {TOP_COMMAND} median under {TOP_BAR_MS} ms at {users} users: {s_med} ms {}",
        verdict(s_med < TOP_BAR_MS)
    );
    println!(
        "  {TOP_COMMAND} p95 under {TOP_BAR_MS} ms at {users} users: {s_p95} ms (max {s_max} ms) {}",
        verdict(s_p95 < TOP_BAR_MS)
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "NOT MET" }
}
