//! The walk through the warden's Synapse module: keyset pages of
//! `GET /_synapse/client/synapse_warden/v1/users/media`, each starting
//! after the last user of the one before (`next_after`) and aggregating only
//! its own users through Synapse's index, until a page says it is the last.
//!
//! Keyset pages neither repeat nor skip a user that stays put while the walk
//! goes on: there is no offset for uploads to shift. A user whose first
//! media arrives behind the walk's position is not seen by this walk (as
//! with offsets); one ahead of it is.
//!
//! Any failure of the module (not installed, secret refused, its budget,
//! a broken or malformed answer, a `next_after` that does not advance) is
//! given back to [`super::run`], which reads the rest through the admin API
//! for this run, after the last user passed on.

use tokio::sync::mpsc;

use super::{WalkChunk, WalkOptions, WalkSummary};
use crate::synapse::client::{MODULE_USERS_PAGE, SynapseClient};
use crate::synapse::error::{Endpoint, SynapseError};

/// Walks every keyset page, passing on users after `last_seen`.
pub(super) async fn walk(
    client: &SynapseClient,
    options: &WalkOptions,
    tx: &mpsc::Sender<Result<WalkChunk, SynapseError>>,
    last_seen: &mut Option<String>,
    summary: &mut WalkSummary,
) -> Result<(), SynapseError> {
    let endpoint = Endpoint::ModuleUsersMedia;
    // `synapse.page_size` bounds every request, the module's too.
    let limit = std::num::NonZeroU32::from(options.page_size)
        .get()
        .min(MODULE_USERS_PAGE);
    let mut after = String::new();
    loop {
        let mut page = client
            .open_keyset_page(&after, limit, options.range, options.chunk)
            .await?;
        while let Some(fresh) = page.next_chunk().await {
            // Each user after the one before (`last_seen` is `after` at the
            // start of each page); otherwise the answer is not what the
            // module promises, and a repeat would count a user twice. The
            // chunk is checked whole before `last_seen` moves, so that the
            // admin API goes on after the last user actually passed on.
            let mut previous = last_seen.as_deref();
            for user in &fresh {
                if previous.is_some_and(|last| user.user_id.as_str() <= last) {
                    return Err(SynapseError::Malformed {
                        endpoint,
                        status: 200,
                        reason: "users not in ascending user_id order after `after`".into(),
                    });
                }
                previous = Some(&user.user_id);
            }
            let Some(last) = fresh.last() else {
                continue;
            };
            *last_seen = Some(last.user_id.clone());
            summary.users += fresh.len() as u64;
            if tx.send(Ok(WalkChunk::Users(fresh))).await.is_err() {
                // The consumer is gone; the task is being aborted.
                return Err(SynapseError::Cancelled { endpoint });
            }
        }
        let tail = page.finish().await?;
        summary.pages += 1;
        match tail.next_after {
            None => return Ok(()),
            Some(next) if tail.users > 0 && next > after && Some(&next) == last_seen.as_ref() => {
                after = next;
            }
            Some(next) => {
                return Err(SynapseError::Malformed {
                    endpoint,
                    status: 200,
                    reason: format!(
                        "next_after {:?} is not the last user of a page of {} users",
                        crate::core::doc::neutral(&next, crate::core::doc::ID_CAP),
                        tail.users
                    ),
                });
            }
        }
    }
}
