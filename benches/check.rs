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
//! `!stats top` answered by the daemon on such a server is measured by
//! `cargo bench --bench top` (benches/top.rs).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness, seeded_media_length};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");

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

async fn measure(n: u64, media: u64) -> Result<Row> {
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
    Policy::new(&base, SecretAt::File(dir.path().join("token")))
        .set("synapse.timeout", "30m")
        .set(
            "rules.user_media",
            serde_json::json!([{ "name": "quota", "max_media_length": format!("{limit} B") }]),
        )
        .write(&config)?;

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
    Ok(Row {
        users: n,
        loop_100,
        one_page,
        check,
        check_rss_kib: rss,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/check.rs: not run under `cargo test`; use `cargo bench --bench check`");
        return Ok(());
    }
    let args = parse_args()?;
    let mut rows = Vec::new();
    for &n in &args.users {
        rows.push(measure(n, args.media).await?);
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
