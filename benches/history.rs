//! Benchmark of the usage history: what recording a run costs, and how big
//! the SQLite file grows. No Synapse: the runs are simulated, and go
//! through the same code as the daemon's (`Collector` fed every user, its
//! record written by `HistoryStore::write`, thinning included).
//!
//! ```text
//! cargo bench --bench history -- [--users 20000,200000] [--runs 96] [--year-users 200000] [--no-year]
//! ```
//!
//! For each user count:
//!
//! - `--runs` runs 15 minutes apart (default 96: one day), each after 0.5 %
//!   of the users uploaded something, with 50 violators outside the
//!   largest; per run the time to collect the walk's users and build the
//!   record (pure) and the time to write it (SQLite, with thinning), as
//!   median, p95 and maximum; then the file's size.
//!
//! Then a simulated year of 15-minute runs (35 040) at `--year-users`
//! users with the default retention (keep 400 days, thin after 30): the
//! record is built from the users' sizes directly (the collector's cost is
//! measured above), written and thinned run by run; the file's size after
//! the year, its runs, and the write time's median, p95 and maximum.

use std::time::{Duration, Instant};

use synapse_warden::core::engine::eval::{RoomsChecked, RunOutcome, WalkReport};
use synapse_warden::core::history::{Collector, RunRecord, TOP_USERS, UserTotal};
use synapse_warden::core::model::coverage::Coverage;
use synapse_warden::core::model::usage::{TimeRange, UserMedia};
use synapse_warden::core::model::violation::{Measure, Severity, Subject, Violation};
use synapse_warden::core::policy::history::{DEFAULT_KEEP, DEFAULT_THIN_AFTER};
use synapse_warden::history::HistoryStore;

const QUARTER: u64 = 15 * 60 * 1000;
const START_MS: u64 = 1_767_225_600_000; // 2026-01-01

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Users' sizes: heavy-tailed (most users small, a few large).
fn users(n: u64, rng: &mut Rng) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let exp = rng.below(30);
            (1u64 << exp) + rng.below(1 << 20)
        })
        .collect()
}

fn user_id(i: usize) -> String {
    format!("@user{i:06}:bench.example.org")
}

/// 0.5 % of the users upload something.
fn upload(sizes: &mut [u64], rng: &mut Rng) {
    let n = sizes.len() as u64;
    for _ in 0..(n / 200).max(1) {
        let i = rng.below(n) as usize;
        sizes[i] += 1 + rng.below(50 << 20);
    }
}

fn outcome(at_ms: u64, sizes: &[u64], violators: &[usize]) -> RunOutcome {
    RunOutcome {
        now_ms: at_ms,
        violations: violators
            .iter()
            .map(|&i| Violation {
                rule: "upload-burst".into(),
                description: None,
                severity: Severity::Warning,
                subject: Subject::User {
                    user_id: user_id(i),
                    displayname: None,
                },
                measure: Measure::MediaLength,
                observed: 2,
                limit: 1,
                window: Some(Duration::from_secs(86_400)),
                early_warning: false,
                units: Default::default(),
            })
            .collect(),
        walks: vec![WalkReport {
            source: Default::default(),
            range: TimeRange::ALL,
            window: None,
            users: sizes.len() as u64,
            bytes: sizes.iter().sum(),
            media: sizes.len() as u64 * 3,
            cut_short: None,
        }],
        rooms: RoomsChecked::NotNeeded,
        rules: 2,
        notes: Vec::new(),
        coverage: Coverage::complete(),
    }
}

/// The record the collector would make, built straight from the sizes.
fn direct_record(at_ms: u64, sizes: &[u64], violators: &[usize]) -> RunRecord {
    let mut order: Vec<(u64, usize)> = sizes.iter().copied().zip(0..).collect();
    let n = TOP_USERS.min(order.len());
    order.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
    order.truncate(n);
    let floor = order.iter().map(|u| u.0).min().unwrap_or(0);
    let mut chosen: Vec<usize> = order.iter().map(|u| u.1).collect();
    chosen.extend_from_slice(violators);
    chosen.sort_unstable();
    chosen.dedup();
    RunRecord {
        started_ms: at_ms,
        partial: None,
        users: sizes.len() as u64,
        bytes: sizes.iter().sum(),
        media: sizes.len() as u64 * 3,
        rules: Vec::new(),
        users_recorded: chosen
            .into_iter()
            .map(|i| UserTotal {
                user_id: user_id(i),
                bytes: sizes[i],
                media: 3,
            })
            .collect(),
        floor_bytes: floor,
    }
}

fn file_size(path: &std::path::Path) -> u64 {
    // The WAL is checkpointed into the file when the store closes; count
    // both in case it is not.
    let wal = path.with_extension("sqlite3-wal");
    std::fs::metadata(path).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

/// Median, p95 (nearest rank) and maximum.
fn stats(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    let Some(&max) = times.last() else {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    };
    let p95 = times[(times.len() * 95).div_ceil(100).saturating_sub(1)];
    (times[times.len() / 2], p95, max)
}

fn per_run(n: u64, runs: u64, rng: &mut Rng) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let mut store = HistoryStore::open(&path).unwrap();
    let mut sizes = users(n, rng);
    let ids: Vec<String> = (0..n as usize).map(user_id).collect();
    let (mut collect, mut write) = (Vec::new(), Vec::new());
    for run in 0..runs {
        upload(&mut sizes, rng);
        let at = START_MS + run * QUARTER;
        let violators: Vec<usize> = (0..50).map(|_| rng.below(n) as usize).collect();
        // The walk's pages (its cost, not the history's) are built first.
        let page: Vec<UserMedia> = ids
            .iter()
            .zip(&sizes)
            .map(|(id, b)| UserMedia {
                user_id: id.clone(),
                displayname: None,
                media_count: 3,
                media_length: Some(*b),
            })
            .collect();
        let t = Instant::now();
        let mut c = Collector::new();
        for chunk in page.chunks(1000) {
            c.record(None, chunk);
        }
        let record = c.finish(&outcome(at, &sizes, &violators)).unwrap();
        collect.push(t.elapsed());
        let t = Instant::now();
        store
            .write(&record, at, DEFAULT_KEEP, DEFAULT_THIN_AFTER)
            .unwrap();
        write.push(t.elapsed());
    }
    drop(store);
    let (c_med, c_p95, c_max) = stats(collect);
    let (w_med, w_p95, w_max) = stats(write);
    println!(
        "{n:>7} users, {runs} runs: collect + record median {c_med:.2?} (p95 {c_p95:.2?}, max {c_max:.2?}); \
         SQLite write + thin median {w_med:.2?} (p95 {w_p95:.2?}, max {w_max:.2?}); file {}",
        mib(file_size(&path))
    );
}

fn year(n: u64, rng: &mut Rng) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let mut store = HistoryStore::open(&path).unwrap();
    let mut sizes = users(n, rng);
    let runs = 365 * 96;
    let mut write = Vec::with_capacity(runs as usize);
    let started = Instant::now();
    for run in 0..runs {
        upload(&mut sizes, rng);
        let at = START_MS + run * QUARTER;
        let violators: Vec<usize> = (0..50).map(|_| rng.below(n) as usize).collect();
        let record = direct_record(at, &sizes, &violators);
        let t = Instant::now();
        store
            .write(&record, at, DEFAULT_KEEP, DEFAULT_THIN_AFTER)
            .unwrap();
        write.push(t.elapsed());
        if run % (96 * 30) == 0 && run > 0 {
            eprintln!(
                "  day {:>3}: file {}, {:.0?} so far",
                run / 96,
                mib(file_size(&path)),
                started.elapsed()
            );
        }
    }
    let kept = store.runs().unwrap().len();
    drop(store);
    let (w_med, w_p95, w_max) = stats(write);
    println!(
        "a year of 15-minute runs at {n} users ({runs} runs, keep 400d, thin after 30d): \
         file {} with {kept} runs kept; write + thin median {w_med:.2?} (p95 {w_p95:.2?}, max {w_max:.2?}); \
         simulated in {:.0?}",
        mib(file_size(&path)),
        started.elapsed()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let user_counts: Vec<u64> = value("--users")
        .unwrap_or_else(|| "20000,200000".into())
        .split(',')
        .map(|s| s.parse().expect("--users takes numbers"))
        .collect();
    let runs: u64 = value("--runs").map_or(96, |s| s.parse().expect("--runs takes a number"));
    let year_users: u64 =
        value("--year-users").map_or(200_000, |s| s.parse().expect("--year-users takes a number"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Under `cargo test` (no `--bench`), a quick pass through the same code
    // so that it keeps working: a few runs of a few users, no year.
    if !args.iter().any(|a| a == "--bench") {
        eprintln!(
            "benches/history.rs: a quick pass under `cargo test`; use `cargo bench --bench history`"
        );
        per_run(2_000, 4, &mut rng);
        return;
    }
    for n in user_counts {
        per_run(n, runs, &mut rng);
    }
    if !args.iter().any(|a| a == "--no-year") {
        year(year_users, &mut rng);
    }
}
