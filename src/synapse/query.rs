//! Typed requests for `GET /_synapse/admin/v1/statistics/users/media`.
//!
//! Every parameter Synapse validates is typed here so that a request Synapse
//! would refuse with `400 M_INVALID_PARAM` cannot be built: `limit` is at
//! least 1, the search term is a non-empty ASCII string, `until_ts` is after
//! `from_ts`, and `order_by` / `dir` are enums.

use std::fmt;
use std::num::NonZeroU32;

use thiserror::Error;

use crate::core::model::usage::{MediaMetric, TimeRange};

/// How Synapse orders the users of a page (`order_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OrderBy {
    /// By Matrix user ID; the only order with one row per key, hence the
    /// only one a full walk can page through without repeats or gaps.
    #[default]
    UserId,
    /// By display name (no tie-breaker in Synapse).
    Displayname,
    /// By total bytes (no tie-breaker in Synapse).
    MediaLength,
    /// By number of media (no tie-breaker in Synapse).
    MediaCount,
}

impl OrderBy {
    /// The value of the `order_by` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderBy::UserId => "user_id",
            OrderBy::Displayname => "displayname",
            OrderBy::MediaLength => "media_length",
            OrderBy::MediaCount => "media_count",
        }
    }
}

impl From<MediaMetric> for OrderBy {
    fn from(metric: MediaMetric) -> Self {
        match metric {
            MediaMetric::MediaLength => OrderBy::MediaLength,
            MediaMetric::MediaCount => OrderBy::MediaCount,
        }
    }
}

/// Sort direction (`dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Ascending (`f`).
    #[default]
    Forward,
    /// Descending (`b`).
    Backward,
}

impl Direction {
    /// The value of the `dir` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "f",
            Direction::Backward => "b",
        }
    }
}

/// Page size: at least one user (`limit=0` answers an empty page whose
/// `next_token` does not advance) and at most `u32::MAX`, far below the
/// `2^63-1` above which Synapse fails with a 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageLimit(NonZeroU32);

impl PageLimit {
    /// A page limit of `n` users; `None` when `n` is zero or above `u32::MAX`.
    pub fn new(n: u64) -> Option<PageLimit> {
        u32::try_from(n)
            .ok()
            .and_then(NonZeroU32::new)
            .map(PageLimit)
    }

    /// The limit as a number.
    pub fn get(self) -> u64 {
        u64::from(self.0.get())
    }
}

impl From<NonZeroU32> for PageLimit {
    fn from(n: NonZeroU32) -> Self {
        PageLimit(n)
    }
}

impl From<PageLimit> for NonZeroU32 {
    fn from(limit: PageLimit) -> Self {
        limit.0
    }
}

impl fmt::Display for PageLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A search term: Synapse refuses an empty one (`400 M_INVALID_PARAM`) and a
/// non-ASCII one (`400 M_UNKNOWN`).
///
/// Synapse matches it with SQL `LIKE '%term%'` against the localpart or the
/// display name, unescaped: `_` and `%` are wildcards, and case-sensitivity
/// depends on the database. Post-filter when an exact match matters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchTerm(String);

/// Why a search term cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchTermError {
    /// Synapse answers `search_term cannot be an empty string.`
    #[error("the search term is empty")]
    Empty,
    /// Synapse answers `Query parameter 'search_term' must be ascii`.
    #[error("the search term {0:?} is not ASCII; Synapse only accepts ASCII search terms")]
    NotAscii(String),
}

impl SearchTerm {
    /// Checks `term` against Synapse's rules.
    pub fn new(term: impl Into<String>) -> Result<SearchTerm, SearchTermError> {
        let term = term.into();
        if term.is_empty() {
            Err(SearchTermError::Empty)
        } else if !term.is_ascii() {
            Err(SearchTermError::NotAscii(term))
        } else {
            Ok(SearchTerm(term))
        }
    }

    /// The term as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a time range cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("until_ts ({until_ms}) must be after from_ts ({from_ms})")]
pub struct TimeRangeError {
    /// The lower bound in ms.
    pub from_ms: u64,
    /// The upper bound in ms.
    pub until_ms: u64,
}

/// One request to the users' media statistics endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsersMediaQuery {
    limit: Option<PageLimit>,
    from: u64,
    order_by: OrderBy,
    dir: Direction,
    range: Option<TimeRange>,
    search_term: Option<SearchTerm>,
}

impl UsersMediaQuery {
    /// Synapse's defaults: 100 users from offset 0, by user ID ascending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Page size; Synapse's default is 100.
    pub fn limit(mut self, limit: PageLimit) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Offset of the page (Synapse's `from`, the previous page's `next_token`).
    pub fn from(mut self, offset: u64) -> Self {
        self.from = offset;
        self
    }

    /// Sort key and direction.
    pub fn order(mut self, order_by: OrderBy, dir: Direction) -> Self {
        self.order_by = order_by;
        self.dir = dir;
        self
    }

    /// Only media uploaded within `range` counts. Fails when the upper bound
    /// is not after the lower bound, which Synapse refuses.
    pub fn range(mut self, range: TimeRange) -> Result<Self, TimeRangeError> {
        if let (Some(from_ms), Some(until_ms)) = (range.from_ms, range.until_ms)
            && until_ms <= from_ms
        {
            return Err(TimeRangeError { from_ms, until_ms });
        }
        self.range = Some(range);
        Ok(self)
    }

    /// Only users whose localpart or display name matches `term`.
    pub fn search(mut self, term: SearchTerm) -> Self {
        self.search_term = Some(term);
        self
    }

    /// The offset this query starts at.
    pub fn offset(&self) -> u64 {
        self.from
    }

    /// The page size asked for, if set.
    pub fn page_limit(&self) -> Option<PageLimit> {
        self.limit
    }

    /// The query string pairs, in a stable order.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(7);
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if self.from != 0 {
            pairs.push(("from", self.from.to_string()));
        }
        if self.order_by != OrderBy::UserId {
            pairs.push(("order_by", self.order_by.as_str().to_owned()));
        }
        if self.dir != Direction::Forward {
            pairs.push(("dir", self.dir.as_str().to_owned()));
        }
        if let Some(range) = self.range {
            // Synapse treats from_ts=0 as "no lower bound"; sending it is harmless.
            if let Some(from_ms) = range.from_ms {
                pairs.push(("from_ts", from_ms.to_string()));
            }
            if let Some(until_ms) = range.until_ms {
                pairs.push(("until_ts", until_ms.to_string()));
            }
        }
        if let Some(term) = &self.search_term {
            pairs.push(("search_term", term.0.clone()));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limit_rejects_zero_and_huge() {
        assert!(PageLimit::new(0).is_none());
        assert!(PageLimit::new(u64::from(u32::MAX) + 1).is_none());
        assert_eq!(PageLimit::new(1).map(PageLimit::get), Some(1));
    }

    #[test]
    fn search_term_rules() {
        assert_eq!(SearchTerm::new(""), Err(SearchTermError::Empty));
        assert!(matches!(
            SearchTerm::new("zoë"),
            Err(SearchTermError::NotAscii(_))
        ));
        assert_eq!(SearchTerm::new("al_ce").unwrap().as_str(), "al_ce");
    }

    #[test]
    fn range_must_increase() {
        let bad = TimeRange {
            from_ms: Some(10),
            until_ms: Some(10),
        };
        assert!(UsersMediaQuery::new().range(bad).is_err());
        let good = TimeRange {
            from_ms: Some(10),
            until_ms: Some(11),
        };
        assert!(UsersMediaQuery::new().range(good).is_ok());
    }

    #[test]
    fn defaults_send_nothing() {
        assert!(UsersMediaQuery::new().to_pairs().is_empty());
        let q = UsersMediaQuery::new()
            .limit(PageLimit::new(5).unwrap())
            .from(10)
            .order(OrderBy::MediaLength, Direction::Backward)
            .search(SearchTerm::new("bob").unwrap());
        assert_eq!(
            q.to_pairs(),
            vec![
                ("limit", "5".to_owned()),
                ("from", "10".to_owned()),
                ("order_by", "media_length".to_owned()),
                ("dir", "b".to_owned()),
                ("search_term", "bob".to_owned()),
            ]
        );
    }
}
