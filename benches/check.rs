//! Benchmark of a full `check` at Synapse's own speed limit, side by side in
//! one run, on a real PostgreSQL Synapse seeded by SQL:
//!
//! ```text
//! cargo bench --bench check -- [--users 20000,200000,1000000] [--media 10]
//!     [--reps 3] [--plans 100000,250000,1000000|none] [--spread]
//! ```
//!
//! For each user count it measures, on the same server, `--reps` rounds of
//! (interleaved, so that noise falls on all alike):
//!
//! - one request with `limit >= total`, the floor (every page costs Synapse
//!   two aggregations over all local media, so one page is the least work);
//! - `synapse-warden check` with default settings (the release binary) and
//!   a rule that only the ten largest users break (few violations);
//! - the same with a rule that 35 % of users break (many violations: the
//!   too-tight rule a new admin writes first);
//! - `check` with each `synapse.page_size` of `--plans` (`none`: no plan),
//!   with each of the two rules: the page plans compared;
//! - `check` through the warden's Synapse module (`http.module_secret` set;
//!   the module is loaded in Synapse from the start, issue 29), with each of
//!   the two rules: keyset pages through Synapse's index instead of the
//!   admin API's aggregation of all media per page; its bars are at most
//!   0.5x the floor (0.3x from 1 000 000 users), Synapse's peak within
//!   100 MB of its RSS before the run, the warden under 60 MB;
//!
//! and, once, a plain HTTP loop at `limit=100` (Synapse's documented
//! default) below 50 000 users, where it does not take hours. For each it
//! reports the median, p95 and max wall time, the ratio of medians to the
//! floor, the warden's peak RSS, and **Synapse's own peak RSS** during it
//! (its `VmHWM`, reset through `/proc/PID/clear_refs` before each
//! measurement): what a plan costs the admin's server. Every run must see
//! the seeded users and bytes and find exactly the expected violations.
//!
//! `!stats top` answered by the daemon on such a server is measured by
//! `cargo bench --bench top` (benches/top.rs).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{
    Backend, SeedReport, SynapseHarness, ensure_quota_module, seeded_media_length,
    warden_module_config,
};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");

struct Args {
    /// Media rows in upload order across users instead of user by user.
    spread: bool,
    users: Vec<u64>,
    media: u64,
    reps: usize,
    plans: Vec<u64>,
}

fn list(value: Option<String>, what: &str) -> Result<Vec<u64>> {
    let value = value.with_context(|| format!("{what} N[,N...]"))?;
    if value == "none" {
        return Ok(Vec::new());
    }
    Ok(value
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?)
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        spread: false,
        users: vec![20_000, 200_000],
        media: 10,
        reps: 3,
        plans: vec![100_000, 250_000, 1_000_000],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--users" => args.users = list(it.next(), "--users")?,
            "--plans" => args.plans = list(it.next(), "--plans")?,
            "--media" => args.media = it.next().context("--media M")?.parse()?,
            "--reps" => args.reps = it.next().context("--reps R")?.parse()?,
            "--spread" => args.spread = true,
            _ => {}
        }
    }
    ensure!(args.reps > 0, "--reps must be at least 1");
    Ok(args)
}

/// Repeated measurements of one variant.
#[derive(Default)]
struct Sample {
    secs: Vec<f64>,
    /// The warden's peak RSS (KiB), the largest of the runs.
    rss_kib: i64,
    /// Synapse's peak RSS (KiB) during the runs, the largest.
    synapse_kib: i64,
}

impl Sample {
    fn add(&mut self, took: Duration, rss_kib: i64, synapse_kib: i64) {
        self.secs.push(took.as_secs_f64());
        self.rss_kib = self.rss_kib.max(rss_kib);
        self.synapse_kib = self.synapse_kib.max(synapse_kib);
    }

    /// The `q` quantile by nearest rank (0.5: median).
    fn quantile(&self, q: f64) -> f64 {
        let mut v = self.secs.clone();
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }
}

struct Row {
    users: u64,
    loop_100: Option<Duration>,
    floor: Sample,
    few: Sample,
    many: Sample,
    many_violations: u64,
    plans: Vec<(String, Sample)>,
    module_few: Sample,
    module_many: Sample,
    /// Synapse's largest peak through the module above its RSS just before
    /// that run (KiB).
    module_synapse_growth_kib: i64,
}

/// Synapse's RSS now, in KiB.
fn synapse_rss_kib(pid: u32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Synapse's peak RSS since the last reset, in KiB.
fn synapse_peak_kib(pid: u32) -> i64 {
    vm_hwm_kib(&format!("/proc/{pid}/status")).unwrap_or(0)
}

/// Resets Synapse's peak RSS to its current RSS (Linux >= 4.0).
fn reset_synapse_peak(pid: u32) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of Synapse (pid {pid})"))
}

fn vm_hwm_kib(status_path: &str) -> Option<i64> {
    let text = std::fs::read_to_string(status_path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
        if let Some(kib) = vm_hwm_kib(&status_path) {
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

/// A policy file `NAME.yaml` with one quota rule at `limit` bytes and,
/// when given, `synapse.page_size`; through the module when `module`.
fn policy(
    dir: &std::path::Path,
    base: &str,
    name: &str,
    limit: u64,
    page_size: Option<u64>,
) -> Result<std::path::PathBuf> {
    policy_with(dir, base, name, limit, page_size, false)
}

fn policy_with(
    dir: &std::path::Path,
    base: &str,
    name: &str,
    limit: u64,
    page_size: Option<u64>,
    module: bool,
) -> Result<std::path::PathBuf> {
    let config = dir.join(format!("{name}.yaml"));
    let mut p = Policy::new(base, SecretAt::File(dir.join("token")))
        .set("synapse.timeout", "30m")
        .set(
            "rules.user_media",
            serde_json::json!([{ "name": "quota", "max_media_length": format!("{limit} B") }]),
        );
    if let Some(size) = page_size {
        p = p.set("synapse.page_size", size);
    }
    if module {
        p = p.set(
            "http.module_secret",
            serde_json::json!({"file": dir.join("module-secret").display().to_string()}),
        );
    }
    p.write(&config)?;
    Ok(config)
}

/// One `check`, verified: it saw every seeded user and byte, through
/// `source` (`admin_api` or `module`), and found `expected` violations.
/// Returns (wall time, warden peak KiB, Synapse peak KiB).
fn checked(
    config: &std::path::Path,
    seeded: &SeedReport,
    expected: u64,
    pid: u32,
    source: &str,
) -> Result<(Duration, i64, i64)> {
    reset_synapse_peak(pid)?;
    let (took, rss, report) = run_check(config)?;
    let synapse = synapse_peak_kib(pid);
    let walk = &report["summary"]["walks"][0];
    ensure!(
        walk["source"].as_str() == Some(source),
        "{}: check read through {walk}, not {source}",
        config.display()
    );
    ensure!(
        walk["users"].as_u64() == Some(seeded.users)
            && walk["bytes"].as_u64() == Some(seeded.total_bytes),
        "{}: check saw {walk}, seeded {} users / {} bytes",
        config.display(),
        seeded.users,
        seeded.total_bytes
    );
    let violations = report["summary"]["violations"].as_u64();
    if violations != Some(expected) {
        bail!(
            "{}: check found {violations:?} violations, expected {expected}",
            config.display()
        );
    }
    Ok((took, rss, synapse))
}

async fn measure(n: u64, args: &Args) -> Result<Row> {
    let media = args.media;
    eprintln!("== {n} users x {media} media: starting PostgreSQL Synapse and seeding by SQL");
    // The warden's module is loaded from the start, as an admin who
    // installed it for quotas has it; the admin API rows do not use it.
    ensure_quota_module().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("module-secret"), "bench-module-secret\n")?;
    let extra = warden_module_config(&dir.path().join("module-secret"))?;
    let h = SynapseHarness::start_with(Backend::Postgres, extra).await?;
    let pid = h.pid().context("Synapse's pid")?;
    let admin = h.register("bench-admin", "bench-password", true).await?;
    let started = Instant::now();
    let seeded = h.seed_media_sql_laid_out(n, media, args.spread).await?;
    h.psql("ANALYZE;").await?;
    eprintln!("   seeded in {:.0} s", started.elapsed().as_secs_f64());
    let base = h.base_url().as_str().trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;

    std::fs::write(dir.path().join("token"), &admin.access_token)?;
    // Few: exactly the ten largest users break it. Many: 35 % of them do.
    let few = policy(
        dir.path(),
        &base,
        "few",
        seeded_media_length(n - 10, media),
        None,
    )?;
    let many_violations = n * 35 / 100;
    let many = policy(
        dir.path(),
        &base,
        "many",
        seeded_media_length(n - many_violations, media),
        None,
    )?;
    let module_few = policy_with(
        dir.path(),
        &base,
        "module-few",
        seeded_media_length(n - 10, media),
        None,
        true,
    )?;
    let module_many = policy_with(
        dir.path(),
        &base,
        "module-many",
        seeded_media_length(n - many_violations, media),
        None,
        true,
    )?;
    // Each page plan with both rules: (label, policy, expected violations).
    let mut plans = Vec::new();
    for &p in &args.plans {
        for (what, at, expected) in [
            ("10 violations", 10, 10),
            ("35% violating", many_violations, many_violations),
        ] {
            let config = policy(
                dir.path(),
                &base,
                &format!("plan-{p}-{expected}"),
                seeded_media_length(n - at, media),
                Some(p),
            )?;
            plans.push((format!("page_size {p}, {what}"), config, expected));
        }
    }

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

    let mut row = Row {
        users: n,
        loop_100,
        floor: Sample::default(),
        few: Sample::default(),
        many: Sample::default(),
        many_violations,
        plans: plans
            .iter()
            .map(|(label, _, _)| (label.clone(), Sample::default()))
            .collect(),
        module_few: Sample::default(),
        module_many: Sample::default(),
        module_synapse_growth_kib: 0,
    };
    for rep in 1..=args.reps {
        eprintln!(
            "   round {rep}/{}: one request with limit >= total...",
            args.reps
        );
        reset_synapse_peak(pid)?;
        let started = Instant::now();
        let (users, bytes) = plain_loop(&http, &base, &admin.access_token, n + 1).await?;
        row.floor.add(started.elapsed(), 0, synapse_peak_kib(pid));
        ensure!(
            users == seeded.users && bytes == seeded.total_bytes,
            "one page saw {users} users / {bytes} bytes"
        );
        eprintln!("   round {rep}: check, few violations, then many...");
        let (t, rss, syn) = checked(&few, &seeded, 10, pid, "admin_api")?;
        row.few.add(t, rss, syn);
        let (t, rss, syn) = checked(&many, &seeded, many_violations, pid, "admin_api")?;
        row.many.add(t, rss, syn);
        eprintln!("   round {rep}: check through the module, few violations, then many...");
        for (config, expected, sample) in [
            (&module_few, 10, &mut row.module_few),
            (&module_many, many_violations, &mut row.module_many),
        ] {
            // Synapse's RSS just before the run: what the walk adds to it.
            let before = synapse_rss_kib(pid);
            let (t, rss, syn) = checked(config, &seeded, expected, pid, "module")?;
            sample.add(t, rss, syn);
            row.module_synapse_growth_kib = row.module_synapse_growth_kib.max(syn - before);
        }
        for ((label, config, expected), (_, sample)) in plans.iter().zip(row.plans.iter_mut()) {
            eprintln!("   round {rep}: check, {label}...");
            let (t, rss, syn) = checked(config, &seeded, *expected, pid, "admin_api")?;
            sample.add(t, rss, syn);
        }
    }
    if let Some(hold) = std::env::var_os("WARDEN_BENCH_HOLD") {
        // WARDEN_BENCH_HOLD=<seconds> (900 when not a number): the server
        // stays up for probing after the measurements.
        let secs = hold.to_str().and_then(|s| s.parse().ok()).unwrap_or(900);
        eprintln!("holding {secs} s: {BIN} check --config {}", few.display());
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    Ok(row)
}

fn mb(kib: i64) -> String {
    if kib == 0 {
        "-".to_owned()
    } else {
        format!("{:.1} MB", kib as f64 / 1024.0)
    }
}

fn print_line(what: &str, s: &Sample, floor: f64) {
    println!(
        "  {:<40} {:>9.3} {:>9.3} {:>9.3} {:>8.2}x {:>11} {:>12}",
        what,
        s.quantile(0.5),
        s.quantile(0.95),
        s.quantile(1.0),
        s.quantile(0.5) / floor,
        mb(s.rss_kib),
        mb(s.synapse_kib),
    );
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
        rows.push(measure(n, &args).await?);
    }
    println!(
        "\nsynapse-warden check against PostgreSQL Synapse, {} media per user ({}), {} rounds; every run saw the seeded users and bytes",
        args.media,
        if args.spread {
            "rows in upload order across users"
        } else {
            "rows user by user"
        },
        args.reps
    );
    for r in &rows {
        let floor = r.floor.quantile(0.5);
        println!(
            "\n{} users ({} violations in \"many\"):\n  {:<40} {:>9} {:>9} {:>9} {:>9} {:>11} {:>12}",
            r.users,
            r.many_violations,
            "",
            "median s",
            "p95 s",
            "max s",
            "/floor",
            "warden RSS",
            "Synapse peak"
        );
        print_line("one request (floor)", &r.floor, floor);
        print_line("check, 10 violations", &r.few, floor);
        print_line("check, 35% violating", &r.many, floor);
        print_line("check through the module, 10 viol.", &r.module_few, floor);
        print_line("check through the module, 35%", &r.module_many, floor);
        for (label, s) in &r.plans {
            print_line(&format!("check, {label}"), s, floor);
        }
        if let Some(l) = r.loop_100 {
            println!(
                "  plain loop at limit=100: {:.2} s, {:.1}x the check",
                l.as_secs_f64(),
                l.as_secs_f64() / r.few.quantile(0.5)
            );
        }
    }
    println!("\nbars:");
    for r in &rows {
        let floor = r.floor.quantile(0.5);
        let few = r.few.quantile(0.5) / floor;
        let many = r.many.quantile(0.5) / floor;
        let (ratio_bar, rss_bar) = if r.users >= 1_000_000 {
            (1.5, 50.0)
        } else {
            (1.3, 60.0)
        };
        println!(
            "  {} users: check at most {ratio_bar}x one request: few {few:.2}x {}, many {many:.2}x {}",
            r.users,
            verdict(few <= ratio_bar),
            verdict(many <= ratio_bar)
        );
        let (few_mb, many_mb) = (
            r.few.rss_kib as f64 / 1024.0,
            r.many.rss_kib as f64 / 1024.0,
        );
        println!(
            "  {} users: warden peak RSS under {rss_bar} MB: few {few_mb:.1} MB {}, many {many_mb:.1} MB {}",
            r.users,
            verdict(few_mb < rss_bar),
            verdict(many_mb < rss_bar)
        );
        let module_bar = if r.users >= 1_000_000 { 0.3 } else { 0.5 };
        let (mfew, mmany) = (
            r.module_few.quantile(0.5) / floor,
            r.module_many.quantile(0.5) / floor,
        );
        println!(
            "  {} users: check through the module at most {module_bar}x one request: few {mfew:.2}x {}, many {mmany:.2}x {}",
            r.users,
            verdict(mfew <= module_bar),
            verdict(mmany <= module_bar)
        );
        let growth_mb = r.module_synapse_growth_kib as f64 / 1024.0;
        println!(
            "  {} users: Synapse's peak through the module within 100 MB of its RSS before: +{growth_mb:.1} MB {}",
            r.users,
            verdict(growth_mb <= 100.0)
        );
        // As for the admin API: the walk's memory, with few violations (a
        // run's outcome holds every violation it found: 35 % of a million
        // users is 350 000 of them, whatever the source).
        let (module_rss, module_many_rss) = (
            r.module_few.rss_kib as f64 / 1024.0,
            r.module_many.rss_kib as f64 / 1024.0,
        );
        println!(
            "  {} users: warden peak RSS through the module under 60 MB: few {module_rss:.1} MB {} (many: {module_many_rss:.1} MB)",
            r.users,
            verdict(module_rss < 60.0)
        );
        if let Some(l) = r.loop_100 {
            let s = l.as_secs_f64() / r.few.quantile(0.5);
            println!(
                "  {} users: check at least 30x faster than limit=100: {s:.1}x {}",
                r.users,
                verdict(s >= 30.0)
            );
        }
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        let growth = last.few.rss_kib as f64 / first.few.rss_kib as f64;
        println!(
            "  warden peak RSS (few violations) at {} users vs {}: {growth:.2}x (flat: at most 1.5x) {}",
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
