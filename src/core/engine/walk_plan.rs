//! The page plan of a full walk of the users' media statistics: where each
//! page after the first starts and how many users it asks for.
//!
//! Each page costs Synapse two aggregations over all local media whatever
//! its size, so the number of pages is what costs. The first page asks for
//! the configured bound (the ceiling on one answer); its `total` plans the
//! rest ([`next_page`]): as few pages as the bound allows, evenly sized, a
//! remainder at most 10 % over the bound taken in one go, each page with a
//! slack of a thousandth ([`next_limit`]), and each starting [`OVERLAP`]
//! user early, to notice offset shifts between pages.
//!
//! The walk itself, which carries the plan out, is
//! [`crate::synapse::walk`].

use std::num::NonZeroU32;

/// Users each page after the first re-reads from the page before.
pub const OVERLAP: u64 = 1;

/// The request after a page: where it starts and how many users it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextPage {
    /// The offset (`from`) of the next request.
    pub from: u64,
    /// The users it asks for (`limit`).
    pub limit: NonZeroU32,
}

/// The next request of a walk whose pages are at most `bound` users, after
/// a page that answered `next_token` `token` and Synapse's `total`: one user
/// of overlap (it starts one early and asks for one more) on top of
/// [`next_limit`] for what remains.
pub fn next_page(bound: NonZeroU32, token: u64, total: u64) -> NextPage {
    let remaining = total.saturating_sub(token);
    let wanted = u64::from(next_limit(bound, remaining).get());
    NextPage {
        from: token.saturating_sub(OVERLAP),
        limit: limit(wanted + OVERLAP).unwrap_or(bound),
    }
}

/// The page plan for the rest of a walk, from what Synapse reported: the
/// `remaining` users (its `total` minus the next offset) in as few pages as
/// the `bound` on one answer allows, the pages evenly sized, so that no
/// page is a tiny remainder that costs as much as a full one. All that
/// remains is taken in one page when it is at most 10 % over the bound
/// (users added while the walk ran), and a last page asks for the whole
/// bound when less remains. Each page also asks for a little slack
/// (a thousandth, at least one user) so that a few users added during the
/// walk do not make one more page.
pub fn next_limit(bound: NonZeroU32, remaining: u64) -> NonZeroU32 {
    let bound_n = u64::from(bound.get());
    let stretch = bound_n + bound_n / 10;
    if remaining <= stretch {
        return limit(bound_n.max(remaining + slack(remaining))).unwrap_or(bound);
    }
    let pages = remaining.div_ceil(bound_n);
    let even = remaining.div_ceil(pages);
    limit((even + slack(even)).min(bound_n)).unwrap_or(bound)
}

/// Users a page asks for beyond its share: a thousandth, at least one.
fn slack(users: u64) -> u64 {
    (users / 1000).max(1)
}

/// `n` as a page limit; `None` when it is zero or above `u32::MAX`.
fn limit(n: u64) -> Option<NonZeroU32> {
    u32::try_from(n).ok().and_then(NonZeroU32::new)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn nonzero(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn stretches_only_a_slightly_larger_last_page() {
        let bound = nonzero(1000);
        assert_eq!(next_limit(bound, 10).get(), 1000);
        assert_eq!(next_limit(bound, 1000).get(), 1001);
        assert_eq!(next_limit(bound, 1050).get(), 1051);
        assert_eq!(next_limit(bound, 1100).get(), 1101);
        // 1101 in two even pages rather than 1000 and a page of 101.
        assert_eq!(next_limit(bound, 1101).get(), 551 + 1);
    }

    #[test]
    fn a_million_users_in_even_pages() {
        let bound = nonzero(250_000);
        // After a first page of 250 000: 750 000 in three pages of 250 000.
        assert_eq!(next_limit(bound, 750_000).get(), 250_000);
        // 1 100 000 users: after the first, 850 000 in four of 212 500 (+ slack).
        assert_eq!(next_limit(bound, 850_000).get(), 212_500 + 212);
    }

    #[test]
    fn the_next_page_starts_one_user_early_and_asks_for_one_more() {
        let next = next_page(nonzero(1000), 1000, 1500);
        assert_eq!(next.from, 999);
        assert_eq!(next.limit.get(), 1000 + 1);
        // A limit beyond u32::MAX falls back to the bound.
        let next = next_page(nonzero(u32::MAX), 1, u64::from(u32::MAX) + 1);
        assert_eq!(next.limit.get(), u32::MAX);
    }

    /// Pages a walk of `total` users makes with `bound`, following the plan
    /// (the first page asks for the bound, each next one is [`next_page`]
    /// after Synapse's `next_token`, as the walk does).
    fn pages(bound: u32, total: u64) -> u64 {
        let bound = nonzero(bound);
        let (mut pages, mut limit, mut offset) = (0, u64::from(bound.get()), 0u64);
        loop {
            pages += 1;
            let seen_to = (offset + limit).min(total);
            if seen_to >= total {
                return pages;
            }
            let next = next_page(bound, seen_to, total);
            offset = next.from;
            limit = u64::from(next.limit.get());
        }
    }

    proptest! {
        /// As few pages as the bound allows (10 % of stretch on the last),
        /// and no page asks for more than the stretched bound.
        #[test]
        fn fewest_pages_within_the_bound(bound in 1u32..2_000, total in 0u64..50_000) {
            let remaining_limit = u64::from(next_limit(nonzero(bound), total).get());
            let bound_n = u64::from(bound);
            prop_assert!(remaining_limit <= (bound_n + bound_n / 10).max(total + slack(total)).max(bound_n));
            prop_assert!(remaining_limit <= bound_n + bound_n / 10 + slack(bound_n + bound_n / 10));
            let fewest = total.div_ceil(bound_n).max(1);
            prop_assert!(pages(bound, total) <= fewest, "{} pages", pages(bound, total));
        }
    }
}
