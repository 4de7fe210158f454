//! The fake's data: users and their media, generated or built by hand.

use super::*;

/// Which database the fake pretends Synapse runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Db {
    /// `LIKE` is ASCII-case-insensitive; NULLs sort first ascending;
    /// `from_ts`/`until_ts` beyond i64 are a 500.
    Sqlite,
    /// `LIKE` is case-sensitive with `\` as escape; NULLs sort last
    /// ascending; `from_ts`/`until_ts` beyond i64 compare as numeric.
    Postgres,
}

/// One medium: upload time (`created_ts`, Unix ms) and length in bytes
/// (`None`: a pending asynchronous upload, `media_length IS NULL`).
pub type Media = (u64, Option<u64>);

/// A user as given to the dataset: ID, optional display name, media rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub user_id: String,
    pub displayname: Option<String>,
    pub media: Vec<Media>,
}

/// A user of a [`Users`] store, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct UserRef<'a> {
    pub user_id: &'a str,
    pub displayname: Option<&'a str>,
    pub media: &'a [Media],
    /// Number of media rows.
    pub media_count: u64,
    /// SQL `SUM` of the lengths: `None` when there is no non-NULL length.
    pub media_length: Option<u64>,
}

impl UserRef<'_> {
    /// An owned copy.
    pub fn to_user(self) -> FakeUser {
        FakeUser {
            user_id: self.user_id.to_owned(),
            displayname: self.displayname.map(str::to_owned),
            media: self.media.to_vec(),
        }
    }
}

/// One stored user: the media rows live in [`Users::media`] at
/// `start..start + len`, with their aggregates precomputed.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) user_id: String,
    pub(crate) displayname: Option<String>,
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) count: u64,
    pub(crate) length: Option<u64>,
    pub(crate) min_ts: u64,
    pub(crate) max_ts: u64,
}

impl Rec {
    /// Count and SQL `SUM` of the media inside the window, from the
    /// precomputed aggregates when the window holds all or none of them.
    pub(crate) fn window(&self, all_media: &[Media], window: Window) -> (u64, Option<u64>) {
        if self.len == 0 {
            return (0, None);
        }
        let (min, max) = (u128::from(self.min_ts), u128::from(self.max_ts));
        let above = window.from == 0 || min >= window.from;
        let below = window.until.is_none_or(|u| max <= u);
        if above && below {
            return (self.count, self.length);
        }
        if (window.from != 0 && max < window.from) || window.until.is_some_and(|u| min > u) {
            return (0, None);
        }
        aggregate(
            all_media[self.start..self.start + self.len]
                .iter()
                .filter(|m| window.contains(m.0)),
        )
    }
}

/// Count and SQL `SUM` of lengths (NULL only if every length is NULL).
pub(crate) fn aggregate<'a>(media: impl Iterator<Item = &'a Media>) -> (u64, Option<u64>) {
    let mut count = 0;
    let mut sum: Option<u64> = None;
    for (_, len) in media {
        count += 1;
        if let Some(len) = len {
            sum = Some(sum.unwrap_or(0).saturating_add(*len));
        }
    }
    (count, sum)
}

/// The users of a dataset, stored compactly: one record per user with
/// precomputed aggregates, every media row in one flat vector.
///
/// Behaves like a collection of [`FakeUser`]s in insertion order, one per
/// user ID: [`Users::push`] replaces a user with the same ID.
#[derive(Debug, Clone, Default)]
pub struct Users {
    pub(crate) recs: Vec<Rec>,
    pub(crate) media: Vec<Media>,
    /// Media rows no record points at any more.
    pub(crate) garbage: usize,
    pub(crate) by_id: HashMap<String, usize>,
}

impl Users {
    /// Number of users (with or without media).
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Number of media rows over every user.
    pub fn media_rows(&self) -> usize {
        self.media.len() - self.garbage
    }

    pub(crate) fn view<'a>(&'a self, rec: &'a Rec) -> UserRef<'a> {
        UserRef {
            user_id: &rec.user_id,
            displayname: rec.displayname.as_deref(),
            media: &self.media[rec.start..rec.start + rec.len],
            media_count: rec.count,
            media_length: rec.length,
        }
    }

    /// The users in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = UserRef<'_>> {
        self.recs.iter().map(|r| self.view(r))
    }

    /// The user with this ID.
    pub fn get(&self, user_id: &str) -> Option<UserRef<'_>> {
        self.by_id.get(user_id).map(|&i| self.view(&self.recs[i]))
    }

    pub(crate) fn record(
        &mut self,
        user_id: String,
        displayname: Option<String>,
        start: usize,
        len: usize,
    ) -> Rec {
        let rows = &self.media[start..start + len];
        let (count, length) = aggregate(rows.iter());
        Rec {
            user_id,
            displayname,
            start,
            len,
            count,
            length,
            min_ts: rows.iter().map(|m| m.0).min().unwrap_or(u64::MAX),
            max_ts: rows.iter().map(|m| m.0).max().unwrap_or(0),
        }
    }

    /// Adds a user, or replaces the user with the same ID (in place).
    pub fn push(&mut self, user: FakeUser) {
        let start = self.media.len();
        self.media.extend_from_slice(&user.media);
        let rec = self.record(user.user_id, user.displayname, start, user.media.len());
        match self.by_id.get(&rec.user_id) {
            Some(&i) => {
                self.garbage += self.recs[i].len;
                self.recs[i] = rec;
            }
            None => {
                self.by_id.insert(rec.user_id.clone(), self.recs.len());
                self.recs.push(rec);
            }
        }
        self.compact_if_wasteful();
    }

    /// Appends media rows to a user (created without display name if
    /// absent), as uploads do.
    pub fn add_media(&mut self, user_id: &str, media: &[Media]) {
        let Some(&i) = self.by_id.get(user_id) else {
            self.push(FakeUser {
                user_id: user_id.to_owned(),
                displayname: None,
                media: media.to_vec(),
            });
            return;
        };
        let (old_start, old_len) = (self.recs[i].start, self.recs[i].len);
        let start = self.media.len();
        self.media
            .extend_from_within(old_start..old_start + old_len);
        self.media.extend_from_slice(media);
        self.garbage += old_len;
        let user_id = std::mem::take(&mut self.recs[i].user_id);
        let displayname = self.recs[i].displayname.take();
        self.recs[i] = self.record(user_id, displayname, start, old_len + media.len());
        self.compact_if_wasteful();
    }

    /// Removes a user; `None` if there is none with that ID.
    pub fn remove(&mut self, user_id: &str) -> Option<FakeUser> {
        let removed = self.get(user_id)?.to_user();
        self.retain(|u| u.user_id != user_id);
        Some(removed)
    }

    /// Keeps only the users for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&UserRef<'_>) -> bool) {
        let kept: Vec<bool> = self.iter().map(|u| keep(&u)).collect();
        let mut recs = std::mem::take(&mut self.recs);
        let mut flags = kept.into_iter();
        recs.retain(|_| flags.next().unwrap_or(true));
        self.recs = recs;
        self.compact();
    }

    pub(crate) fn compact_if_wasteful(&mut self) {
        if self.garbage > 1024 && self.garbage > self.media.len() / 2 {
            self.compact();
        }
    }

    /// Rewrites the media rows without garbage and rebuilds the index.
    pub(crate) fn compact(&mut self) {
        let mut media = Vec::with_capacity(self.media_rows());
        for rec in &mut self.recs {
            let start = media.len();
            media.extend_from_slice(&self.media[rec.start..rec.start + rec.len]);
            rec.start = start;
        }
        self.media = media;
        self.garbage = 0;
        self.by_id = self
            .recs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.user_id.clone(), i))
            .collect();
    }
}

/// The users the fake serves, and the server name their IDs use.
///
/// A `Dataset` is its own builder:
/// `Dataset::builder().user("@alice:test", Some("Alice"), &[(ts, Some(len))])`.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub(crate) server_name: String,
    pub users: Users,
}

impl Default for Dataset {
    fn default() -> Dataset {
        Dataset {
            server_name: DEFAULT_SERVER_NAME.to_owned(),
            users: Users::default(),
        }
    }
}

impl Dataset {
    /// An empty dataset on server `test`.
    pub fn new() -> Dataset {
        Dataset::default()
    }

    /// Same as [`Dataset::new`], to read as a builder.
    pub fn builder() -> Dataset {
        Dataset::default()
    }

    /// Sets the server name reported by [`Dataset::server_name`] (user IDs
    /// given to [`Dataset::user`] are taken as they are).
    pub fn with_server_name(mut self, server_name: &str) -> Dataset {
        server_name.clone_into(&mut self.server_name);
        self
    }

    /// The server name.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Adds a user with these media rows.
    ///
    /// # Panics
    ///
    /// If a user with that ID was already added (a mistake in the test).
    pub fn user(mut self, user_id: &str, displayname: Option<&str>, media: &[Media]) -> Dataset {
        assert!(
            self.users.get(user_id).is_none(),
            "{user_id} added twice to the dataset"
        );
        self.users.push(FakeUser {
            user_id: user_id.to_owned(),
            displayname: displayname.map(str::to_owned),
            media: media.to_vec(),
        });
        self
    }

    /// [`Dataset::generate_on`] server `test`.
    pub fn generate(n_users: usize, media_per_user: usize, seed: u64) -> Dataset {
        Dataset::generate_on(DEFAULT_SERVER_NAME, n_users, media_per_user, seed)
    }

    /// `n_users` users with `media_per_user` media rows each, deterministic
    /// for `seed`, upload times over the 30 days before
    /// [`GENERATED_NOW_MS`]. User `i` (from 0) is:
    ///
    /// - localpart `user_{i:06}` if `i % 7 == 3` (a `LIKE` wildcard),
    ///   `User{i:06}` if `i % 5 == 4` (upper case), `user{i:06}` otherwise;
    /// - display name none if `i % 11 == 0`, `Zoë {i}` (non-ASCII) if
    ///   `i % 17 == 5`, `BIG_User {i}` if `i % 19 == 7`, `User {i}` otherwise;
    /// - lengths: all pending (NULL, so `media_length` is null) if
    ///   `i % 101 == 1`; else the first pending if `i % 13 == 0`; all 1000
    ///   bytes if `i % 3 == 0` (ties in `media_length`); random multiples of
    ///   1000 up to 50 000 otherwise. Every user has the same count (ties in
    ///   `media_count`).
    pub fn generate_on(
        server_name: &str,
        n_users: usize,
        media_per_user: usize,
        seed: u64,
    ) -> Dataset {
        const MONTH_MS: u64 = 30 * 86_400_000;
        let mut state = seed ^ 0x5DEE_CE66_D1CE_4E5B;
        let mut recs = Vec::with_capacity(n_users);
        let mut media = Vec::with_capacity(n_users * media_per_user);
        for i in 0..n_users {
            let local = if i % 7 == 3 {
                format!("user_{i:06}")
            } else if i % 5 == 4 {
                format!("User{i:06}")
            } else {
                format!("user{i:06}")
            };
            let displayname = if i % 11 == 0 {
                None
            } else if i % 17 == 5 {
                Some(format!("Zoë {i}"))
            } else if i % 19 == 7 {
                Some(format!("BIG_User {i}"))
            } else {
                Some(format!("User {i}"))
            };
            let start = media.len();
            let (mut count, mut length, mut min_ts, mut max_ts) = (0, None, u64::MAX, 0);
            for j in 0..media_per_user {
                let ts = GENERATED_NOW_MS - splitmix(&mut state) % MONTH_MS;
                let len = if i % 101 == 1 || (i % 13 == 0 && j == 0) {
                    None
                } else if i % 3 == 0 {
                    Some(1000)
                } else {
                    Some((splitmix(&mut state) % 50 + 1) * 1000)
                };
                count += 1;
                if let Some(len) = len {
                    length = Some(length.unwrap_or(0) + len);
                }
                min_ts = min_ts.min(ts);
                max_ts = max_ts.max(ts);
                media.push((ts, len));
            }
            recs.push(Rec {
                user_id: format!("@{local}:{server_name}"),
                displayname,
                start,
                len: media_per_user,
                count,
                length,
                min_ts,
                max_ts,
            });
        }
        let by_id = recs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.user_id.clone(), i))
            .collect();
        Dataset {
            server_name: server_name.to_owned(),
            users: Users {
                recs,
                media,
                garbage: 0,
                by_id,
            },
        }
    }

    /// Every user with at least one medium, and their (count, SQL `SUM` of
    /// lengths) over every medium: what a full walk must find.
    pub fn totals(&self) -> HashMap<String, (u64, Option<u64>)> {
        self.users
            .iter()
            .filter(|u| u.media_count > 0)
            .map(|u| (u.user_id.to_owned(), (u.media_count, u.media_length)))
            .collect()
    }

    /// Sum of every non-NULL length.
    pub fn total_bytes(&self) -> u64 {
        self.users.iter().filter_map(|u| u.media_length).sum()
    }

    /// The full ordered answer Synapse would give for `selection` on `db`
    /// (before paging), computed naively from the media rows — an oracle
    /// for the server's answers. Ties are broken by `user_id` as the fake
    /// does.
    pub fn expected(&self, selection: &Selection, db: Db) -> Vec<UserStats> {
        let window = Window {
            from: u128::from(selection.from_ts),
            until: selection.until_ts.map(u128::from),
        };
        let search = selection.search_term.as_deref().map(|t| Search::new(t, db));
        let mut rows: Vec<UserStats> = self
            .users
            .iter()
            .filter(|u| {
                search
                    .as_ref()
                    .is_none_or(|s| s.matches(u.user_id, u.displayname))
            })
            .filter_map(|u| {
                let (count, length) = aggregate(u.media.iter().filter(|m| window.contains(m.0)));
                (count > 0).then(|| UserStats {
                    user_id: u.user_id.to_owned(),
                    displayname: u.displayname.map(str::to_owned),
                    media_count: count,
                    media_length: length,
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            compare(
                a.key(),
                b.key(),
                selection.order_by,
                selection.backwards,
                db,
            )
        });
        rows
    }
}

/// SplitMix64: a small, fast, deterministic generator.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
