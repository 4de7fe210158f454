//! SQL semantics as each backend has them: `ORDER BY` with its NULLs,
//! the time window on media rows, and `LIKE` for `search_term`.

use super::*;

/// `order_by` of the users endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortBy {
    #[default]
    UserId,
    Displayname,
    MediaLength,
    MediaCount,
}

impl SortBy {
    /// Synapse's allowed values, in the order its error message lists them.
    pub const ALLOWED: [&'static str; 4] =
        ["media_length", "media_count", "user_id", "displayname"];

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::UserId => "user_id",
            SortBy::Displayname => "displayname",
            SortBy::MediaLength => "media_length",
            SortBy::MediaCount => "media_count",
        }
    }

    pub(crate) fn parse(value: &str) -> Option<SortBy> {
        Some(match value {
            "user_id" => SortBy::UserId,
            "displayname" => SortBy::Displayname,
            "media_length" => SortBy::MediaLength,
            "media_count" => SortBy::MediaCount,
            _ => return None,
        })
    }
}

/// The filters and order of a users request, for [`Dataset::expected`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    pub order_by: SortBy,
    /// `dir=b`.
    pub backwards: bool,
    /// 0: no lower bound.
    pub from_ts: u64,
    pub until_ts: Option<u64>,
    pub search_term: Option<String>,
}

/// One user of an answer, as Synapse reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct UserStats {
    pub user_id: String,
    pub displayname: Option<String>,
    pub media_count: u64,
    pub media_length: Option<u64>,
}

impl UserStats {
    pub(crate) fn key(&self) -> SortKey<'_> {
        SortKey {
            user_id: &self.user_id,
            displayname: self.displayname.as_deref(),
            count: self.media_count,
            length: self.media_length,
        }
    }
}

/// What ordering looks at.
#[derive(Clone, Copy)]
pub(crate) struct SortKey<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) displayname: Option<&'a str>,
    pub(crate) count: u64,
    pub(crate) length: Option<u64>,
}

/// `ORDER BY <key> ASC|DESC` as the backend sorts, NULLs included, then —
/// unlike Synapse, whose SQL has no tie-breaker — `user_id` ascending, so
/// the fake's pages are deterministic.
pub(crate) fn compare(
    a: SortKey<'_>,
    b: SortKey<'_>,
    by: SortBy,
    backwards: bool,
    db: Db,
) -> Ordering {
    fn nullable<T: Ord>(x: Option<T>, y: Option<T>, nulls_first: bool) -> Ordering {
        match (x, y) {
            (Some(x), Some(y)) => x.cmp(&y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) if nulls_first => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) if nulls_first => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
        }
    }
    // Ascending: SQLite puts NULLs first, PostgreSQL last; DESC reverses.
    let nulls_first = db == Db::Sqlite;
    // Text compares by bytes: SQLite's BINARY collation, PostgreSQL's "C".
    let primary = match by {
        SortBy::UserId => a.user_id.cmp(b.user_id),
        SortBy::Displayname => nullable(a.displayname, b.displayname, nulls_first),
        SortBy::MediaLength => nullable(a.length, b.length, nulls_first),
        SortBy::MediaCount => a.count.cmp(&b.count),
    };
    let primary = if backwards {
        primary.reverse()
    } else {
        primary
    };
    primary.then_with(|| a.user_id.cmp(b.user_id))
}

/// Inclusive bounds on `created_ts`; `from == 0` is no lower bound (as
/// Synapse's `if from_ts:`). Wide enough for PostgreSQL's numeric
/// comparison with values beyond 64 bits (saturated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Window {
    pub(crate) from: u128,
    pub(crate) until: Option<u128>,
}

impl Window {
    pub(crate) fn contains(&self, ts: u64) -> bool {
        let ts = u128::from(ts);
        (self.from == 0 || ts >= self.from) && self.until.is_none_or(|u| ts <= u)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `%`
    Any,
    /// `_`
    One,
    Lit(char),
}

/// A compiled `LIKE` pattern.
#[derive(Debug, Clone)]
pub(crate) struct Like {
    pub(crate) toks: Vec<Tok>,
    pub(crate) fold: bool,
}

impl Like {
    /// `None`: PostgreSQL refuses a pattern ending with its escape `\`.
    pub(crate) fn new(pattern: &str, db: Db) -> Option<Like> {
        let fold = db == Db::Sqlite;
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            toks.push(match c {
                '%' => Tok::Any,
                '_' => Tok::One,
                '\\' if db == Db::Postgres => Tok::Lit(chars.next()?),
                c => Tok::Lit(c),
            });
        }
        if fold {
            for t in &mut toks {
                if let Tok::Lit(c) = t {
                    *c = c.to_ascii_lowercase();
                }
            }
        }
        Some(Like { toks, fold })
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = if self.fold {
            text.chars().map(|c| c.to_ascii_lowercase()).collect()
        } else {
            text.chars().collect()
        };
        let p = &self.toks;
        // Wildcard matching, backtracking to the last `%`.
        let (mut ti, mut pi) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < text.len() {
            match p.get(pi) {
                Some(Tok::One) => {
                    ti += 1;
                    pi += 1;
                }
                Some(Tok::Lit(c)) if *c == text[ti] => {
                    ti += 1;
                    pi += 1;
                }
                Some(Tok::Any) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        star = Some((sp, st + 1));
                        pi = sp + 1;
                        ti = st + 1;
                    }
                    None => return false,
                },
            }
        }
        p[pi.min(p.len())..].iter().all(|t| *t == Tok::Any)
    }
}

/// `(lmr.user_id LIKE '@%term%:%' OR displayname LIKE '%term%')`.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    pub(crate) user_id: Option<Like>,
    pub(crate) displayname: Option<Like>,
}

impl Search {
    pub(crate) fn new(term: &str, db: Db) -> Search {
        Search {
            user_id: Like::new(&format!("@%{term}%:%"), db),
            displayname: Like::new(&format!("%{term}%"), db),
        }
    }

    /// Whether PostgreSQL would refuse the patterns (never, as both end
    /// with `%`, but kept honest).
    pub(crate) fn invalid(&self) -> bool {
        self.user_id.is_none() || self.displayname.is_none()
    }

    pub(crate) fn matches(&self, user_id: &str, displayname: Option<&str>) -> bool {
        self.user_id.as_ref().is_some_and(|l| l.matches(user_id))
            || displayname.is_some_and(|d| self.displayname.as_ref().is_some_and(|l| l.matches(d)))
    }
}
