//! The full walk: every user of `GET /_synapse/admin/v1/statistics/users/media`,
//! page after page, as a stream of chunks.
//!
//! Rules, from how Synapse pages (see the reference in the README):
//!
//! - Order by `user_id`: the only order with one row per key, so offset
//!   paging neither repeats nor skips users when nothing changes.
//! - Follow `next_token`; stop on an empty page, a missing token, or a token
//!   that does not advance (with `limit=0` Synapse answers `next_token: 0`
//!   forever).
//! - A walk knows whether it is complete: it ended without a further
//!   `next_token` having seen as many distinct users as the last page's
//!   `total`, within the tolerance of
//!   [`allowed_shortfall`](crate::core::model::coverage::allowed_shortfall) (users
//!   that appear during the walk before its position are not seen; users
//!   that disappear make it see more than `total`). Otherwise it was cut
//!   short (token not advancing, empty page, pages that skipped users):
//!   it is walked once more from the start, passing on only users after
//!   the last one already passed on, and if that attempt falls short too,
//!   the summary says how ([`WalkSummary::cut_short`]) and up to which user
//!   it got ([`WalkSummary::last_user`]), so that nothing beyond is resolved.
//! - Each page costs Synapse two aggregations over all local media, so the
//!   number of pages is what costs: the first page asks for the configured
//!   bound (the ceiling on one answer), and its `total` plans the rest: as
//!   few pages as the bound allows, evenly sized, a remainder at most 10 %
//!   over the bound taken in one go (the core's page plan,
//!   [`next_page`](crate::core::engine::walk_plan::next_page)).
//! - Uploads during a walk shift offsets. Each page after the first starts one
//!   user early (one user of overlap) and users are de-duplicated by
//!   `user_id`: since the order is ascending, a user at or below the last one
//!   seen is a repeat. An insertion before the cursor then causes no repeat,
//!   and a single deletion no gap.
//! - The server may answer fewer users than asked (matrix-media-repo caps
//!   `limit` at 50): only `next_token` drives the walk.
//! - Transient failures are retried per page (see [`RetryPolicy`]); users of a
//!   page that broke off half-way and was retried are de-duplicated as above.
//! - With a module secret, the warden's Synapse module is walked first
//!   ([`keyset`]: pages through Synapse's index, each aggregating only its
//!   own users). If it fails, the walk goes on through the admin API for
//!   this run, passing on only users after the last one the module gave; the
//!   summary's [`WalkSummary::source`] says which, and why the module failed.
//!
//! [`RetryPolicy`]: super::RetryPolicy

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

mod keyset;

use super::client::{SynapseClient, module_unavailable};
use super::decode::PageTail;
use super::error::SynapseError;
use super::query::{PageLimit, UsersMediaQuery};
use crate::core::engine::walk_plan::next_page;
use crate::core::model::coverage::{CutCause, CutShort, judge_walk_end};
use crate::core::model::usage::{TimeRange, UserMedia};
use crate::core::model::users_source::UsersSource;

/// Default bound on users per page: the ceiling on the answer Synapse is
/// asked to build. One page costs Synapse two aggregations over all local
/// media whatever its size, so the page count decides a walk's cost; the
/// bound is what Synapse's memory can take. Measured (`cargo bench --bench
/// check`, PostgreSQL Synapse, 1 000 000 users x 5 media): 10 pages of
/// 100 000 took 5.5x one request, 4 of 250 000 2.4x, 2 of 500 000 1.5x,
/// with Synapse peaking at 363, 449 and 582 MB (1 018 MB for one page of
/// all). A page of 500 000 users is ~45 MB of JSON, decoded as a stream on
/// our side. Homeservers of up to 500 000 users are walked in one page.
pub const DEFAULT_PAGE_SIZE: u32 = 500_000;

/// How many users a chunk of the stream holds at most.
pub const DEFAULT_CHUNK: usize = 1_000;

/// Settings of one walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkOptions {
    /// Which uploads count (`from_ts`/`until_ts`); [`TimeRange::ALL`] for totals.
    pub range: TimeRange,
    /// The most users asked for in one request.
    pub page_size: PageLimit,
    /// The most users in one chunk of the stream.
    pub chunk: usize,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            range: TimeRange::ALL,
            page_size: PageLimit::new(u64::from(DEFAULT_PAGE_SIZE)).expect("non-zero"),
            chunk: DEFAULT_CHUNK,
        }
    }
}

/// What a finished walk saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WalkSummary {
    /// Pages fetched successfully.
    pub pages: u32,
    /// Distinct users passed on.
    pub users: u64,
    /// Users dropped as repeats (page overlap, offset shifts, retried pages,
    /// the second attempt of a walk cut short).
    pub repeats: u64,
    /// The last `total` Synapse reported.
    pub total: u64,
    /// Whether the walk was cut short once and walked again from the start.
    pub retried: bool,
    /// How the walk was cut short, after its retry; `None` when it saw
    /// every user.
    pub cut_short: Option<CutShort>,
    /// The last (largest) `user_id` passed on: a walk cut short saw every
    /// user up to it.
    pub last_user: Option<String>,
    /// Where the users were read.
    pub source: UsersSource,
}

impl WalkSummary {
    /// Whether the walk saw every user.
    pub fn is_complete(&self) -> bool {
        self.cut_short.is_none()
    }
}

/// One item of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkChunk {
    /// Users in ascending `user_id` order, none seen before in this walk.
    Users(Vec<UserMedia>),
    /// The walk is over; nothing follows.
    Done(WalkSummary),
}

/// A walk in progress: a stream of [`WalkChunk`]s that ends after `Done` or
/// after the first error. Dropping it stops the walk.
pub struct Walk {
    rx: mpsc::Receiver<Result<WalkChunk, SynapseError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Walk {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for Walk {
    type Item = Result<WalkChunk, SynapseError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl SynapseClient {
    /// Starts a full walk in a background task. Chunks are produced as pages
    /// are decoded, with back-pressure: a slow consumer slows the walk.
    pub fn walk(&self, options: WalkOptions) -> Walk {
        let (tx, rx) = mpsc::channel(4);
        let client = self.clone();
        let task = tokio::spawn(async move {
            let result = run(&client, &options, &tx).await;
            let last = result.map(WalkChunk::Done);
            let _ = tx.send(last).await;
        });
        Walk { rx, task }
    }
}

async fn run(
    client: &SynapseClient,
    options: &WalkOptions,
    tx: &mpsc::Sender<Result<WalkChunk, SynapseError>>,
) -> Result<WalkSummary, SynapseError> {
    let mut summary = WalkSummary::default();
    let mut last_seen: Option<String> = None;
    if client.has_module_secret() {
        match keyset::walk(client, options, tx, &mut last_seen, &mut summary).await {
            Ok(()) => {
                summary.source = UsersSource::Module;
                summary.total = summary.users;
                summary.last_user = last_seen;
                return Ok(summary);
            }
            Err(error @ SynapseError::Cancelled { .. }) => return Err(error),
            Err(error) => {
                tracing::warn!(
                    %error,
                    users = summary.users,
                    "the warden's Synapse module failed; reading the users' media through the admin API for this run"
                );
                summary.source = UsersSource::Fallback(module_unavailable(&error));
            }
        }
    }
    let mut cut = attempt(client, options, tx, &mut last_seen, &mut summary).await?;
    if let Some(first) = cut {
        tracing::warn!(cause = %first, "the walk was cut short; walking once more from the start");
        summary.retried = true;
        cut = attempt(client, options, tx, &mut last_seen, &mut summary).await?;
    }
    if let Some(cut) = cut {
        tracing::warn!(cause = %cut, last_user = ?last_seen, "the walk was cut short again; the run is partial");
    }
    summary.cut_short = cut;
    summary.last_user = last_seen;
    Ok(summary)
}

/// The users one attempt saw, to judge its completeness.
#[derive(Debug, Default)]
struct Attempt {
    /// Distinct users on this attempt's pages (passed on or not).
    users: u64,
    /// The last of them.
    last: Option<String>,
}

/// One walk from the start; `Some` says how it was cut short.
async fn attempt(
    client: &SynapseClient,
    options: &WalkOptions,
    tx: &mpsc::Sender<Result<WalkChunk, SynapseError>>,
    last_seen: &mut Option<String>,
    summary: &mut WalkSummary,
) -> Result<Option<CutShort>, SynapseError> {
    let mut seen = Attempt::default();
    let mut offset: u64 = 0;
    let mut limit = options.page_size;
    let mut last_token: Option<u64> = None;
    loop {
        let query = UsersMediaQuery::new()
            .limit(limit)
            .from(offset)
            .range(options.range)
            .map_err(|e| SynapseError::Config(e.to_string()))?;
        let mut retrier = client.retrier();
        let tail = loop {
            match read_page(
                client,
                &query,
                options.chunk,
                last_seen,
                &mut seen,
                summary,
                tx,
            )
            .await
            {
                Ok(tail) => break tail,
                Err(error) => retrier.wait_or_fail(error).await?,
            }
        };
        summary.pages += 1;
        summary.total = tail.total;
        let Some(token) = tail.next_token else {
            return Ok(judge_walk_end(seen.users, tail.total, tail.users == 0));
        };
        if tail.users == 0 || last_token.is_some_and(|t| token <= t) || token <= offset {
            tracing::warn!(
                token,
                offset,
                users = seen.users,
                total = tail.total,
                "Synapse's next_token did not advance"
            );
            let cause = if tail.users == 0 {
                CutCause::EmptyPage
            } else {
                CutCause::TokenStuck
            };
            return Ok(
                judge_walk_end(seen.users, tail.total, false).map(|_| CutShort {
                    cause,
                    seen: seen.users,
                    total: tail.total,
                }),
            );
        }
        last_token = Some(token);
        let next = next_page(options.page_size.into(), token, tail.total);
        offset = next.from;
        limit = next.limit.into();
    }
}

/// Reads one page, passing on the users not seen yet.
async fn read_page(
    client: &SynapseClient,
    query: &UsersMediaQuery,
    chunk: usize,
    last_seen: &mut Option<String>,
    seen: &mut Attempt,
    summary: &mut WalkSummary,
    tx: &mpsc::Sender<Result<WalkChunk, SynapseError>>,
) -> Result<PageTail, SynapseError> {
    let mut page = client.open_users_page(query, chunk).await?;
    while let Some(users) = page.next_chunk().await {
        let mut fresh = Vec::with_capacity(users.len());
        for user in users {
            if seen.last.as_ref().is_none_or(|last| user.user_id > *last) {
                seen.users += 1;
                seen.last = Some(user.user_id.clone());
            }
            if last_seen.as_ref().is_some_and(|last| user.user_id <= *last) {
                summary.repeats += 1;
            } else {
                *last_seen = Some(user.user_id.clone());
                fresh.push(user);
            }
        }
        if fresh.is_empty() {
            continue;
        }
        summary.users += fresh.len() as u64;
        if tx.send(Ok(WalkChunk::Users(fresh))).await.is_err() {
            // The consumer is gone; the task is being aborted.
            return Err(SynapseError::Cancelled {
                endpoint: crate::synapse::Endpoint::UsersMedia,
            });
        }
    }
    page.finish().await
}
