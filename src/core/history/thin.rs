//! Which recorded runs to delete: retention and downsampling.
//!
//! - A run that started more than `keep` before now is deleted.
//! - Of the runs that started more than `thin_after` before now, one per
//!   UTC day is kept: the day's last complete run, or, on a day without a
//!   complete run, its last run.
//! - Newer runs are all kept.
//!
//! Deciding is pure and idempotent: thinning what was thinned deletes
//! nothing more (until time passes).

use std::collections::BTreeMap;
use std::time::Duration;

const DAY_MS: u64 = 86_400_000;

/// A recorded run, as thinning sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its row ID.
    pub id: i64,
    /// When it started (Unix ms).
    pub started_ms: u64,
    /// Whether it saw every user.
    pub complete: bool,
}

/// The IDs of the runs to delete at `now_ms`, in ascending order.
pub fn to_delete(runs: &[Stored], now_ms: u64, keep: Duration, thin_after: Duration) -> Vec<i64> {
    let ms = |d: Duration| crate::core::model::millis(d);
    let keep_from = now_ms.saturating_sub(ms(keep));
    let thin_before = now_ms.saturating_sub(ms(thin_after));
    let mut delete = Vec::new();
    // Per day of the thinned span: the run kept so far.
    let mut kept: BTreeMap<u64, Stored> = BTreeMap::new();
    for run in runs {
        if run.started_ms < keep_from {
            delete.push(run.id);
        } else if run.started_ms < thin_before {
            let day = run.started_ms / DAY_MS;
            match kept.get(&day) {
                None => {
                    kept.insert(day, *run);
                }
                Some(held) => {
                    if better(run, held) {
                        delete.push(held.id);
                        kept.insert(day, *run);
                    } else {
                        delete.push(run.id);
                    }
                }
            }
        }
    }
    delete.sort_unstable();
    delete
}

/// Whether `a` is the one to keep of a day rather than `b`: a complete run
/// before a partial one, then the later one, then the higher ID.
fn better(a: &Stored, b: &Stored) -> bool {
    (a.complete, a.started_ms, a.id) > (b.complete, b.started_ms, b.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const D30: Duration = Duration::from_secs(30 * 86_400);
    const D400: Duration = Duration::from_secs(400 * 86_400);

    fn run(id: i64, started_ms: u64, complete: bool) -> Stored {
        Stored {
            id,
            started_ms,
            complete,
        }
    }

    #[test]
    fn recent_runs_stay_old_ones_go_one_a_day_in_between() {
        let now = 500 * DAY_MS;
        let runs = vec![
            run(1, now - 401 * DAY_MS, true),           // too old
            run(2, now - 100 * DAY_MS + 1000, true),    // day A, earlier
            run(3, now - 100 * DAY_MS + 50_000, true),  // day A, later: kept
            run(4, now - 100 * DAY_MS + 60_000, false), // day A, partial
            run(5, now - 50 * DAY_MS + 10, false),      // day B, only partial: kept
            run(6, now - 29 * DAY_MS, true),            // recent
            run(7, now - 29 * DAY_MS + 1, false),       // recent
        ];
        assert_eq!(to_delete(&runs, now, D400, D30), vec![1, 2, 4]);
    }

    fn runs() -> impl Strategy<Value = Vec<Stored>> {
        proptest::collection::vec((0u64..500 * DAY_MS, any::<bool>()), 0..200).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (t, c))| run(i as i64 + 1, t, c))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn thinning_keeps_what_it_promises(
            runs in runs(),
            now in 0u64..600 * DAY_MS,
            keep_days in 1u64..450,
            thin_days in 1u64..450,
        ) {
            let keep = Duration::from_secs(keep_days * 86_400);
            let thin_after = Duration::from_secs(thin_days * 86_400);
            let deleted: BTreeSet<i64> = to_delete(&runs, now, keep, thin_after).into_iter().collect();
            let keep_from = now.saturating_sub(keep_days * DAY_MS);
            let thin_before = now.saturating_sub(thin_days * DAY_MS);
            let left: Vec<&Stored> = runs.iter().filter(|r| !deleted.contains(&r.id)).collect();
            for r in &runs {
                if r.started_ms < keep_from {
                    // Too old: gone.
                    prop_assert!(deleted.contains(&r.id));
                } else if r.started_ms >= thin_before {
                    // Recent: kept.
                    prop_assert!(!deleted.contains(&r.id));
                }
            }
            // In the thinned span: exactly one per day that had a run, a
            // complete one when the day had one.
            let mut days: BTreeMap<u64, Vec<&Stored>> = BTreeMap::new();
            for r in runs.iter().filter(|r| r.started_ms >= keep_from && r.started_ms < thin_before) {
                days.entry(r.started_ms / DAY_MS).or_default().push(r);
            }
            for (day, had) in days {
                let kept: Vec<&&Stored> = left
                    .iter()
                    .filter(|r| r.started_ms >= keep_from && r.started_ms < thin_before && r.started_ms / DAY_MS == day)
                    .collect();
                prop_assert_eq!(kept.len(), 1);
                if had.iter().any(|r| r.complete) {
                    prop_assert!(kept[0].complete);
                }
            }
            // Idempotent.
            let left: Vec<Stored> = left.into_iter().copied().collect();
            prop_assert!(to_delete(&left, now, keep, thin_after).is_empty());
        }
    }
}
