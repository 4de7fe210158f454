//! Benchmark of what tens of thousands of violations cost, pure (no
//! Synapse): the issue's too-tight rule, 73 000 active violations.
//!
//! ```text
//! cargo bench --bench state -- [--violations 73000] [--runs 20]
//! ```
//!
//! It feeds 200 000 users through the engine (the 30 MB quota of the issue
//! breaks 73 000 of them), measures the live heap of the run's outcome and
//! of the alert state (a counting allocator: bytes, not time), then saves
//! the daemon's state with [`JsonStore`] `--runs` times (write, `fsync`,
//! rename), alternating with the layout main wrote until 3c948df (every
//! alert a full, pretty-printed violation, saved the same way), and prints
//! the median, p95 and max save times and the file sizes. It also loads
//! both files back. Times vary with the disk; sizes do not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde::Serialize;

use synapse_warden::core::alerting::lifecycle::{AlertRecord, Lifecycle, Outgoing};
use synapse_warden::core::engine::eval::{Evaluation, RunOutcome};
use synapse_warden::core::model::usage::{TimeRange, UserMedia};
use synapse_warden::daemon::state::DaemonState;
use synapse_warden::daemon::store::{JsonStore, Loaded};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const POLICY: &str = r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: UNUSED } }
rules:
  user_media:
    - name: media-quota
      description: Each user may keep at most 30 MB of media.
      max_media_length: 30 MB
      warn_at: 90%
    - name: many-files
      description: More than 50 files.
      max_media_count: 50
"#;

const USERS: u64 = 200_000;
const NOW: u64 = 1_764_000_000_000;

struct Args {
    violations: u64,
    runs: usize,
}

fn args() -> Result<Args> {
    let mut args = Args {
        violations: 73_000,
        runs: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--violations" => args.violations = it.next().context("--violations N")?.parse()?,
            "--runs" => args.runs = it.next().context("--runs N")?.parse()?,
            _ => {}
        }
    }
    ensure!(
        args.violations <= USERS,
        "--violations must be at most {USERS}"
    );
    ensure!(args.runs >= 1, "--runs must be at least 1");
    Ok(args)
}

/// User `i`: the first `violations` users are over 30 MB, the others well
/// under; every tenth has 10 media, a few have more than 50.
fn user(i: u64, violations: u64) -> UserMedia {
    UserMedia {
        user_id: format!("@user{i:07}:bench.example.org"),
        displayname: (!i.is_multiple_of(3)).then(|| format!("Bench User {i}")),
        media_count: if i.is_multiple_of(997) { 60 } else { 10 },
        media_length: Some(if i < violations {
            31_000_000 + i
        } else {
            1_000_000 + i
        }),
    }
}

fn run(violations: u64) -> Result<RunOutcome> {
    let config = synapse_warden::core::policy::parse("bench.yaml", POLICY)
        .map_err(|e| anyhow::anyhow!("{}", e.report()))?;
    let mut eval = Evaluation::plan(&config.rules, NOW);
    let chunk: u64 = 1_000;
    for start in (0..USERS).step_by(chunk as usize) {
        let users: Vec<UserMedia> = (start..start + chunk)
            .map(|i| user(i, violations))
            .collect();
        eval.feed(TimeRange::ALL, &users)?;
    }
    Ok(eval.finish())
}

/// The layout main wrote until 3c948df: `active` a list of full records,
/// the whole state pretty-printed.
#[derive(Serialize)]
struct OldState<'a> {
    alerts: OldAlerts<'a>,
    last_run: Option<()>,
}

#[derive(Serialize)]
struct OldAlerts<'a> {
    active: Vec<&'a AlertRecord>,
    outbox: &'a [Outgoing],
    next_txn: u64,
}

/// main's `JsonStore::save`, with its pretty printer.
fn save_old(path: &std::path::Path, state: &DaemonState) -> Result<()> {
    let old = OldState {
        alerts: OldAlerts {
            active: state.alerts.active.values().collect(),
            outbox: &state.alerts.outbox,
            next_txn: state.alerts.next_txn,
        },
        last_run: None,
    };
    let bytes = serde_json::to_vec_pretty(&old)?;
    let dir = path.parent().context("no directory")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Median, p95 (nearest rank) and maximum of some timings, in ms.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    p95: f64,
    max: f64,
}

impl Timing {
    fn of(mut times: Vec<Duration>) -> Timing {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let p95 = (times.len() * 95).div_ceil(100).max(1) - 1;
        Timing {
            median: ms(times[times.len() / 2]),
            p95: ms(times[p95]),
            max: ms(times[times.len() - 1]),
        }
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.1} {:>7.1} {:>7.1}",
            self.median, self.p95, self.max
        )
    }
}

/// Times `a` and `b` `runs` times each, alternating, so that the machine's
/// noise falls on both alike.
fn side_by_side(
    runs: usize,
    mut a: impl FnMut() -> Result<()>,
    mut b: impl FnMut() -> Result<()>,
) -> Result<(Timing, Timing)> {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        a()?;
        ta.push(start.elapsed());
        let start = Instant::now();
        b()?;
        tb.push(start.elapsed());
    }
    Ok((Timing::of(ta), Timing::of(tb)))
}

fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/state.rs: not run under `cargo test`; use `cargo bench --bench state`");
        return Ok(());
    }
    let args = args()?;
    let before = LIVE.load(Ordering::Relaxed);
    let outcome = run(args.violations)?;
    let outcome_bytes = LIVE.load(Ordering::Relaxed) - before;
    let found = outcome.violations.len();
    ensure!(found as u64 >= args.violations, "only {found} violations");

    let before = LIVE.load(Ordering::Relaxed);
    let mut state = DaemonState::default();
    let lifecycle = Lifecycle::default();
    let plan = state.alerts.plan(&outcome.violations, NOW, &lifecycle);
    state.alerts.apply(&plan, &outcome.violations, NOW);
    drop(plan);
    let state_bytes = LIVE.load(Ordering::Relaxed) - before;
    ensure!(state.alerts.active.len() == found);

    let dir = tempfile::tempdir()?;
    let new_path = dir.path().join("state.json");
    let old_path = dir.path().join("state-old.json");
    let store = JsonStore::new(&new_path);
    let (new_save, old_save) = side_by_side(
        args.runs,
        || Ok(store.save(&state)?),
        || save_old(&old_path, &state),
    )?;
    let new_size = std::fs::metadata(&new_path)?.len();
    let old_size = std::fs::metadata(&old_path)?.len();
    let load = |path: &std::path::Path| -> Result<()> {
        match JsonStore::new(path).load::<DaemonState>(0)? {
            Loaded::Found(back) => {
                ensure!(
                    back.alerts.active.len() == found,
                    "{}: lost alerts",
                    path.display()
                );
                Ok(())
            }
            other => anyhow::bail!("{}: {other:?}", path.display()),
        }
    };
    let (new_load, old_load) = side_by_side(args.runs, || load(&new_path), || load(&old_path))?;

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("{found} violations of 2 rules among {USERS} users");
    println!(
        "heap: outcome {:.1} MiB ({} B per violation), alert state {:.1} MiB ({} B per alert)",
        mib(outcome_bytes as u64),
        outcome_bytes / found,
        mib(state_bytes as u64),
        state_bytes / found
    );
    println!(
        "state.json, {} saves and loads of each, alternating (ms: median p95 max)",
        args.runs
    );
    println!("  layout        size      save median/p95/max      load median/p95/max");
    println!(
        "  compact  {:>7.1} MiB  {new_save}  {new_load}",
        mib(new_size)
    );
    println!(
        "  main     {:>7.1} MiB  {old_save}  {old_load}",
        mib(old_size)
    );
    println!(
        "compact / main (medians): size {:.2}x, save {:.2}x, load {:.2}x",
        new_size as f64 / old_size as f64,
        new_save.median / old_save.median,
        new_load.median / old_load.median
    );
    println!(
        "bar: state save < 200 ms: p95 {:.1} ms, max {:.1} ms {}",
        new_save.p95,
        new_save.max,
        if new_save.max < 200.0 {
            "ok"
        } else {
            "NOT MET"
        }
    );
    Ok(())
}
