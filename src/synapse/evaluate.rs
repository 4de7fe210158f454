//! One run of the rules against Synapse: the walks the engine plans, one
//! after the other, each streamed page by page into the engine, then the
//! rooms when there are room rules.
//!
//! Shared by `check` (one run, printed) and the daemon (runs on a schedule).
//! Room sizes come from the first source that answers ([`room_sizes`]):
//! Synapse's own estimate (old PostgreSQL servers), else the warden's
//! Synapse module (every database). Synapse's estimate fails on SQLite and
//! on every PostgreSQL server created on a current Synapse
//! (element-hq/synapse#19561); without the module, size limits are "not
//! checked" (a typed [`SizesUnavailable`] in the outcome) while the media
//! rules and the state event limits, read from the official room list
//! (every database), are still decided. A walk cut short even after its
//! retry (see [`crate::synapse::walk`]) makes a *partial* run: the outcome's
//! coverage says what was looked at, and [`crate::core::alerting::conditions`] decides
//! what that means. Any other failure fails the run: a run that could not
//! look at everything never says "clean".

use std::time::Duration;

use futures::StreamExt as _;
use thiserror::Error;

use super::client::{MODULE_ROOMS_ASKED, ROOM_LIST_PAGE};
use super::walk::{DEFAULT_CHUNK, DEFAULT_PAGE_SIZE};
use super::{PageLimit, SynapseClient, SynapseError, WalkChunk, WalkOptions};
use crate::core::engine::eval::{EvalError, Evaluation, LARGEST_ROOMS_LISTED, RunOutcome};
use crate::core::model::coverage::RoomsUnavailable;
use crate::core::model::rooms::{RoomListEntry, RoomSizes, RoomSource, SizesUnavailable};
use crate::core::model::usage::{TimeRange, UserMedia};
use crate::core::policy::Config;

/// Why a run failed.
#[derive(Debug, Error)]
pub enum RunError {
    /// A walk failed (after the client's retries).
    #[error("{what}: {source}")]
    Walk {
        /// Which walk.
        what: String,
        /// What failed.
        #[source]
        source: SynapseError,
    },
    /// The largest rooms could not be read, for another reason than SQLite
    /// or Synapse's known 500.
    #[error("getting the largest rooms: {0}")]
    Rooms(#[source] SynapseError),
    /// The official room list could not be read.
    #[error("reading the room list: {0}")]
    RoomList(#[source] SynapseError),
    /// A walk ended without its summary.
    #[error("{0}: the walk stopped before it was complete")]
    Incomplete(String),
    /// The engine was misused (a bug).
    #[error(transparent)]
    Eval(#[from] EvalError),
}

impl RunError {
    /// The Synapse error behind this failure, if any.
    pub fn synapse(&self) -> Option<&SynapseError> {
        match self {
            RunError::Walk { source, .. }
            | RunError::Rooms(source)
            | RunError::RoomList(source) => Some(source),
            RunError::Incomplete(_) | RunError::Eval(_) => None,
        }
    }
}

/// What a successful run found.
#[derive(Debug)]
pub struct RunReport {
    /// Violations and what was checked.
    pub outcome: RunOutcome,
    /// Pages fetched over all walks.
    pub pages: u32,
    /// Synapse's error when room sizes could not be read (for metrics; the
    /// outcome says why in words).
    pub rooms_error: Option<SynapseError>,
}

/// Whether `error`, from asking for the largest rooms, means room sizes are
/// unavailable (SQLite, or Synapse's known 500) rather than a failure of
/// the run; the one place that says so, for runs and for `!stats rooms`.
pub fn rooms_unavailable(error: &SynapseError) -> Option<RoomsUnavailable> {
    match error {
        SynapseError::RequiresPostgres { .. } => Some(RoomsUnavailable::Sqlite),
        SynapseError::Server { .. } => Some(RoomsUnavailable::Server(error.to_string())),
        _ => None,
    }
}

/// Why [`room_sizes`] gave none.
#[derive(Debug)]
pub enum SizesError {
    /// No source gave sizes, for reasons that do not fail a run.
    Unavailable {
        /// Why, typed.
        why: SizesUnavailable,
        /// Synapse's own error (for metrics).
        synapse: SynapseError,
    },
    /// Synapse failed in a way that fails the run (e.g. the token).
    Failed(SynapseError),
}

/// The largest rooms by size from the first source that answers:
/// Synapse's estimate, else the warden's module (asked for `module_limit`
/// rooms) when Synapse's failure is SQLite's 400 or its known 500.
pub async fn room_sizes(
    client: &SynapseClient,
    module_limit: usize,
) -> Result<RoomSizes, SizesError> {
    let error = match client.largest_rooms().await {
        Ok(rooms) => {
            return Ok(RoomSizes {
                source: RoomSource::SynapseEstimate,
                rooms,
                asked: LARGEST_ROOMS_LISTED,
            });
        }
        Err(e) => e,
    };
    let Some(reason) = rooms_unavailable(&error) else {
        return Err(SizesError::Failed(error));
    };
    match client.module_rooms(module_limit).await {
        Ok(sizes) => {
            tracing::debug!(source = ?sizes.source, rooms = sizes.rooms.len(), "room sizes from the warden's module");
            Ok(sizes)
        }
        Err(module) => Err(SizesError::Unavailable {
            why: SizesUnavailable {
                synapse: reason,
                module: Some(module),
            },
            synapse: error,
        }),
    }
}

/// What `rooms` needs: the sizes (or why there are none) and every room of
/// the official room list.
pub async fn rooms_view_data(
    client: &SynapseClient,
    module_limit: usize,
) -> Result<(Result<RoomSizes, SizesUnavailable>, Vec<RoomListEntry>), SynapseError> {
    let sizes = match room_sizes(client, module_limit).await {
        Ok(sizes) => Ok(sizes),
        Err(SizesError::Unavailable { why, .. }) => Err(why),
        Err(SizesError::Failed(e)) => return Err(e),
    };
    let list = client.room_list(ROOM_LIST_PAGE).await?;
    Ok((sizes, list))
}

/// Runs every rule of `config` at `now_ms`. `observe` sees every chunk of
/// users of every walk (the daemon keeps its top lists with it).
pub async fn evaluate(
    client: &SynapseClient,
    config: &Config,
    now_ms: u64,
    mut observe: impl FnMut(TimeRange, Option<Duration>, &[UserMedia]),
) -> Result<RunReport, RunError> {
    let mut eval = Evaluation::plan(&config.rules, now_ms);
    let page_size = config
        .synapse
        .page_size
        .and_then(|n| PageLimit::new(u64::from(n.get())))
        .or_else(|| PageLimit::new(u64::from(DEFAULT_PAGE_SIZE)))
        .expect("the default page size is not zero");
    let walks: Vec<(TimeRange, Option<Duration>)> =
        eval.walks().iter().map(|w| (w.range, w.window)).collect();
    let mut pages = 0;
    // Once the module failed, the run's later walks read the admin API
    // straight away: one fallback (and one notice) per run.
    let mut walker = client.clone();
    for (range, window) in walks {
        let what = match window {
            None => "walking the users' media statistics".to_owned(),
            Some(w) => format!(
                "walking the users' media statistics of the last {}",
                crate::core::doc::format::window(w)
            ),
        };
        let mut walk = walker.walk(WalkOptions {
            range,
            page_size,
            chunk: DEFAULT_CHUNK,
        });
        let mut done = false;
        while let Some(item) = walk.next().await {
            match item.map_err(|source| RunError::Walk {
                what: what.clone(),
                source,
            })? {
                WalkChunk::Users(users) => {
                    observe(range, window, &users);
                    eval.feed(range, &users)?;
                }
                WalkChunk::Done(summary) => {
                    eval.walked_through(range, summary.source.clone())?;
                    if summary.source.module_error().is_some() {
                        walker = client.without_module_secret();
                    }
                    match summary.cut_short {
                        None => tracing::info!(
                            window_secs = window.map(|w| w.as_secs()),
                            source = summary.source.label(),
                            pages = summary.pages,
                            users = summary.users,
                            repeats = summary.repeats,
                            retried = summary.retried,
                            "walk complete"
                        ),
                        Some(cut) => {
                            tracing::warn!(
                                window_secs = window.map(|w| w.as_secs()),
                                pages = summary.pages,
                                users = summary.users,
                                cause = %cut,
                                "walk cut short, even walked again: the run is partial"
                            );
                            eval.walk_cut_short(range, cut, summary.last_user.clone())?;
                        }
                    }
                    pages += summary.pages;
                    done = true;
                }
            }
        }
        if !done {
            return Err(RunError::Incomplete(what));
        }
    }
    let mut rooms_error = None;
    if eval.needs_room_sizes() {
        match room_sizes(client, MODULE_ROOMS_ASKED).await {
            Ok(sizes) => eval.room_sizes(sizes),
            Err(SizesError::Unavailable { why, synapse }) => {
                tracing::warn!(reason = %why, "room sizes unavailable");
                eval.room_sizes_unavailable(why);
                rooms_error = Some(synapse);
            }
            Err(SizesError::Failed(e)) => return Err(RunError::Rooms(e)),
        }
    }
    if eval.needs_room_list() {
        let list = client
            .room_list(ROOM_LIST_PAGE)
            .await
            .map_err(RunError::RoomList)?;
        eval.room_list(&list);
    }
    Ok(RunReport {
        outcome: eval.finish(),
        pages,
        rooms_error,
    })
}
