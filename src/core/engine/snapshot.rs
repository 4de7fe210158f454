//! What the last walk saw, kept so that `top` can be answered without
//! asking Synapse again.
//!
//! After each run the daemon records, for every walk it made (all media,
//! and each rule window), the [`TOP_KEPT`] largest users by each metric.
//! A `top` command is answered from the snapshot when it is fresh enough
//! ([`Snapshot::fresh_for`]) and holds the list asked for; otherwise the
//! answer comes from one ordered, limited call to Synapse.
//!
//! Pure: time is an argument.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::core::model::usage::{MediaMetric, UserMedia};

/// Users kept per list: the most `top` can ask for.
pub const TOP_KEPT: usize = 100;

/// The top lists of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// When the walk started (Unix ms).
    pub taken_at_ms: u64,
    /// By (metric, window in whole seconds; `None` for all media): the
    /// largest users, largest first, ties by user ID.
    lists: BTreeMap<(MediaMetric, Option<u64>), TopList>,
}

/// One top list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopList {
    /// At most [`TOP_KEPT`] users, largest first.
    pub users: Vec<UserMedia>,
    /// Users the walk saw in all (with media in the window).
    pub total: u64,
    /// The user IDs of [`Self::users`], to find a repeat without a scan.
    kept: HashSet<String>,
}

impl TopList {
    fn new() -> TopList {
        TopList {
            users: Vec::new(),
            total: 0,
            kept: HashSet::new(),
        }
    }

    /// Adds one user. One hash lookup and one comparison for a user below
    /// the last kept one (most users of a large walk); a binary search and
    /// an insertion into at most [`TOP_KEPT`] for the others.
    fn add(&mut self, metric: MediaMetric, user: &UserMedia) {
        if self.kept.remove(&user.user_id) {
            // A repeat replaces the kept entry.
            self.users.retain(|u| u.user_id != user.user_id);
        } else {
            self.total += 1;
            if self.users.len() >= TOP_KEPT
                && self
                    .users
                    .last()
                    .is_some_and(|last| rank(metric, user, last) == Ordering::Greater)
            {
                return;
            }
        }
        let at = self
            .users
            .partition_point(|u| rank(metric, u, user) == Ordering::Less);
        self.users.insert(at, user.clone());
        self.kept.insert(user.user_id.clone());
        if self.users.len() > TOP_KEPT
            && let Some(out) = self.users.pop()
        {
            self.kept.remove(&out.user_id);
        }
    }
}

/// The order of a list: largest first, ties by user ID.
fn rank(metric: MediaMetric, a: &UserMedia, b: &UserMedia) -> Ordering {
    metric
        .of(b)
        .cmp(&metric.of(a))
        .then_with(|| a.user_id.cmp(&b.user_id))
}

fn key(metric: MediaMetric, window: Option<Duration>) -> (MediaMetric, Option<u64>) {
    (metric, window.map(|w| w.as_secs()))
}

impl Snapshot {
    /// An empty snapshot of a walk started at `taken_at_ms`.
    pub fn new(taken_at_ms: u64) -> Snapshot {
        Snapshot {
            taken_at_ms,
            lists: BTreeMap::new(),
        }
    }

    /// Records the users of one walk (`window`: `None` for all media) and
    /// keeps the largest of them by each metric. `users` may come in any
    /// order, in chunks (call again with the same window), as the walk reads
    /// them. Each user is to be recorded once per walk, as the walk
    /// de-duplicates them; a repeat of a user still among the kept ones
    /// replaces it.
    pub fn record(&mut self, window: Option<Duration>, users: &[UserMedia]) {
        for metric in [MediaMetric::MediaLength, MediaMetric::MediaCount] {
            let list = self
                .lists
                .entry(key(metric, window))
                .or_insert_with(TopList::new);
            for user in users {
                list.add(metric, user);
            }
        }
    }

    /// Whether the snapshot is at most `max_age` old at `now_ms`.
    pub fn fresh_for(&self, now_ms: u64, max_age: Duration) -> bool {
        let max_ms = crate::core::model::millis(max_age);
        now_ms >= self.taken_at_ms && now_ms - self.taken_at_ms <= max_ms
    }

    /// Age at `now_ms`.
    pub fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.taken_at_ms))
    }

    /// The `n` largest users by `metric` of the walk with `window`, when
    /// that walk was recorded.
    pub fn top(
        &self,
        metric: MediaMetric,
        window: Option<Duration>,
        n: usize,
    ) -> Option<(&[UserMedia], u64)> {
        let list = self.lists.get(&key(metric, window))?;
        Some((&list.users[..n.min(list.users.len())], list.total))
    }

    /// The windows of the recorded walks (`None`: all media).
    pub fn windows(&self) -> impl Iterator<Item = Option<Duration>> + '_ {
        self.lists
            .keys()
            .filter(|(m, _)| *m == MediaMetric::MediaLength)
            .map(|(_, w)| w.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(id: &str, count: u64, length: Option<u64>) -> UserMedia {
        UserMedia {
            user_id: id.into(),
            displayname: None,
            media_count: count,
            media_length: length,
        }
    }

    #[test]
    fn keeps_the_largest_by_each_metric_in_chunks() {
        let mut s = Snapshot::new(1_000);
        s.record(None, &[u("@a:hs", 1, Some(300)), u("@b:hs", 5, Some(100))]);
        s.record(None, &[u("@c:hs", 5, None), u("@a:hs", 2, Some(400))]);
        let (top, total) = s.top(MediaMetric::MediaLength, None, 10).unwrap();
        let ids: Vec<_> = top.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["@a:hs", "@b:hs", "@c:hs"]);
        assert_eq!(total, 3);
        let (top, _) = s.top(MediaMetric::MediaCount, None, 2).unwrap();
        let ids: Vec<_> = top.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["@b:hs", "@c:hs"], "ties by user ID");
        assert!(
            s.top(MediaMetric::MediaCount, Some(Duration::from_secs(60)), 2)
                .is_none()
        );
        assert_eq!(s.windows().collect::<Vec<_>>(), [None]);
    }

    #[test]
    fn same_lists_as_sorting_everything_in_any_order() {
        // A scrambled walk order, in chunks, against one full sort.
        let users: Vec<_> = (0..5_000u64)
            .map(|i| {
                let x = i.wrapping_mul(2_654_435_761) % 1_000;
                u(&format!("@u{i:05}:hs"), x % 7, (x % 13 != 0).then_some(x))
            })
            .collect();
        let mut s = Snapshot::new(0);
        for chunk in users.chunks(333) {
            s.record(None, chunk);
        }
        for metric in [MediaMetric::MediaLength, MediaMetric::MediaCount] {
            let mut all = users.clone();
            all.sort_by(|a, b| rank(metric, a, b));
            let (top, total) = s.top(metric, None, TOP_KEPT).unwrap();
            assert_eq!(top, &all[..TOP_KEPT]);
            assert_eq!(total, 5_000);
        }
    }

    #[test]
    fn a_repeat_replaces_the_kept_entry() {
        let mut s = Snapshot::new(0);
        let users: Vec<_> = (0..150)
            .map(|i| u(&format!("@u{i:03}:hs"), 1, Some(1_000 + i)))
            .collect();
        s.record(None, &users);
        // The largest shrank: its new value, last (the users dropped before
        // are not known any more).
        s.record(None, &[u("@u149:hs", 1, Some(1))]);
        let (top, total) = s.top(MediaMetric::MediaLength, None, TOP_KEPT).unwrap();
        assert_eq!(total, 150, "a repeat is no new user");
        assert_eq!(top.len(), TOP_KEPT);
        assert_eq!(top[0].user_id, "@u148:hs");
        assert_eq!(top[TOP_KEPT - 1], u("@u149:hs", 1, Some(1)));
        assert_eq!(top.iter().filter(|u| u.user_id == "@u149:hs").count(), 1);
        // A repeat that grows moves up.
        s.record(None, &[u("@u100:hs", 1, Some(10_000))]);
        let (top, total) = s.top(MediaMetric::MediaLength, None, 2).unwrap();
        assert_eq!(total, 150);
        assert_eq!(top[0].user_id, "@u100:hs");
        assert_eq!(top[1].user_id, "@u148:hs");
    }

    #[test]
    fn caps_lists_and_ages() {
        let mut s = Snapshot::new(10_000);
        let users: Vec<_> = (0..250)
            .map(|i| u(&format!("@u{i:03}:hs"), i, Some(i * 10)))
            .collect();
        s.record(Some(Duration::from_secs(86400)), &users);
        let (top, total) = s
            .top(
                MediaMetric::MediaLength,
                Some(Duration::from_secs(86400)),
                500,
            )
            .unwrap();
        assert_eq!(top.len(), TOP_KEPT);
        assert_eq!(total, 250);
        assert_eq!(top[0].user_id, "@u249:hs");
        assert!(s.fresh_for(10_000 + 60_000, Duration::from_secs(60)));
        assert!(!s.fresh_for(10_000 + 60_001, Duration::from_secs(60)));
        assert!(
            !s.fresh_for(9_999, Duration::from_secs(60)),
            "from the future"
        );
        assert_eq!(s.age(12_000), Duration::from_secs(2));
    }
}
