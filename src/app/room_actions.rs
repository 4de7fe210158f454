//! Carries out the room clean-up commands (`delete-room`, `purge-history`,
//! `delete-abandoned`) decided by [`crate::core::commands::actions`]: reads
//! the rooms for a preview, and once confirmed starts Synapse's background
//! tasks and waits for each (bounded, with progress), re-checking
//! abandoned rooms just before deleting them.

use crate::app::context::StatsContext;
use crate::core::commands::actions::{
    self, ActionKind, ActionPlan, ItemOutcome, Preview, Recheck, TaskStatus, TaskStep,
};
use crate::core::doc::{Doc, Message};
use crate::core::model::rooms::RoomListEntry;
use crate::core::text::cleanup as say;
use crate::core::text::room_cleanup as rooms_say;
use crate::synapse::SynapseError;

/// A progress message every this many rooms.
const PROGRESS_EVERY: usize = 5;

/// The preview of a room command, or the reply saying why there is none.
pub(super) async fn preview(
    kind: &ActionKind,
    ctx: &StatsContext,
    protected: &[String],
    now_ms: u64,
) -> Result<Preview, Doc> {
    match kind {
        ActionKind::DeleteRoom { room_id, block } => {
            let room = read_room(ctx, room_id, protected).await?;
            Ok(actions::preview_delete_room(room, *block))
        }
        ActionKind::PurgeHistory {
            room_id,
            older_than,
            local_too,
        } => {
            let room = read_room(ctx, room_id, protected).await?;
            Ok(actions::preview_purge_history(
                room,
                *older_than,
                *local_too,
                now_ms,
            ))
        }
        ActionKind::DeleteAbandoned => {
            match ctx
                .synapse
                .room_list(crate::synapse::client::ROOM_LIST_PAGE)
                .await
            {
                Ok(list) => Ok(actions::preview_delete_abandoned(&list, protected)),
                Err(e) => Err(say::failed(&e.to_string())),
            }
        }
        _ => Err(say::failed("not a room command")),
    }
}

/// The room as Synapse describes it, unless it is protected or unknown.
async fn read_room(
    ctx: &StatsContext,
    room_id: &str,
    protected: &[String],
) -> Result<RoomListEntry, Doc> {
    if actions::is_protected(room_id, protected) {
        return Err(rooms_say::admin_room(room_id));
    }
    match ctx.synapse.room_details(room_id).await {
        Ok(Some(room)) => Ok(room),
        Ok(None) => Err(rooms_say::unknown_room(room_id)),
        Err(e) => Err(say::failed(&e.to_string())),
    }
}

/// A Synapse background task of a room.
enum Task<'a> {
    Delete(&'a str),
    Purge(&'a str),
}

/// Carries out a room plan: the outcome of each room, in plan order.
pub(super) async fn carry(
    ctx: &StatsContext,
    plan: &ActionPlan,
    progress: Option<&tokio::sync::mpsc::UnboundedSender<Message>>,
) -> Vec<(String, ItemOutcome)> {
    match plan {
        ActionPlan::DeleteRooms {
            room_ids,
            block,
            recheck,
        } => {
            let mut results = Vec::with_capacity(room_ids.len());
            for (i, room_id) in room_ids.iter().enumerate() {
                let result = delete_one(ctx, room_id, *block, *recheck, progress).await;
                tracing::info!(action = "delete-room", %room_id, ?result, "clean-up");
                results.push((room_id.clone(), result));
                if let Some(tx) = progress
                    && actions::progress_due(i + 1, room_ids.len(), PROGRESS_EVERY)
                {
                    let _ = tx.send(rooms_say::progress(i + 1, room_ids.len()).message());
                }
            }
            results
        }
        ActionPlan::PurgeHistory {
            room_id,
            before_ms,
            delete_local_events,
        } => {
            let result = match ctx
                .synapse
                .purge_history(room_id, *before_ms, *delete_local_events)
                .await
            {
                Ok(purge_id) => wait(ctx, room_id, Task::Purge(&purge_id), progress).await,
                Err(e) => ItemOutcome::Failed(e.to_string()),
            };
            tracing::info!(action = "purge-history", %room_id, ?result, "clean-up");
            vec![(room_id.clone(), result)]
        }
        _ => Vec::new(),
    }
}

async fn delete_one(
    ctx: &StatsContext,
    room_id: &str,
    block: bool,
    recheck: bool,
    progress: Option<&tokio::sync::mpsc::UnboundedSender<Message>>,
) -> ItemOutcome {
    if recheck {
        match ctx.synapse.room_details(room_id).await {
            Ok(now) => match actions::recheck(now.as_ref()) {
                Recheck::Keep => return ItemOutcome::Kept,
                Recheck::Gone => return ItemOutcome::AlreadyGone,
                Recheck::Delete => {}
            },
            Err(e) => return ItemOutcome::Failed(e.to_string()),
        }
    }
    match ctx.synapse.delete_room(room_id, block).await {
        Ok(delete_id) => wait(ctx, room_id, Task::Delete(&delete_id), progress).await,
        // A deletion of this room already runs (a retried request whose
        // first answer was lost, or another confirmation): wait for it.
        Err(SynapseError::InvalidRequest { detail, .. })
            if detail
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("Purge already in progress")) =>
        {
            let running = ctx.synapse.room_delete_tasks(room_id).await.map(|tasks| {
                tasks
                    .into_iter()
                    .rev()
                    .find(|(_, s)| !matches!(s, TaskStatus::Complete | TaskStatus::Failed(_)))
            });
            match running {
                Ok(Some((delete_id, _))) => {
                    wait(ctx, room_id, Task::Delete(&delete_id), progress).await
                }
                // Finished in between: look at the room itself.
                Ok(None) => match ctx.synapse.room_details(room_id).await {
                    Ok(None) => ItemOutcome::Done,
                    Ok(Some(_)) => ItemOutcome::Failed(
                        "Synapse reports a deletion in progress but shows none".to_owned(),
                    ),
                    Err(e) => ItemOutcome::Failed(e.to_string()),
                },
                Err(e) => ItemOutcome::Failed(e.to_string()),
            }
        }
        Err(e) => ItemOutcome::Failed(e.to_string()),
    }
}

/// Polls a task until it completes, fails, or the warden stops waiting.
async fn wait(
    ctx: &StatsContext,
    room_id: &str,
    task: Task<'_>,
    progress: Option<&tokio::sync::mpsc::UnboundedSender<Message>>,
) -> ItemOutcome {
    let polling = ctx.task_polling;
    let id = match task {
        Task::Delete(id) | Task::Purge(id) => id,
    };
    let mut polls = 0u32;
    loop {
        tokio::time::sleep(polling.pause(polls)).await;
        polls = polls.saturating_add(1);
        let status = match task {
            Task::Delete(id) => ctx.synapse.delete_status(id).await,
            Task::Purge(id) => ctx.synapse.purge_history_status(id).await,
        };
        let status = match status {
            Ok(s) => s,
            // A passing failure (retried already by the client): look again.
            Err(e) if e.is_transient() => TaskStatus::Other(e.kind().to_owned()),
            Err(e) => return ItemOutcome::Failed(e.to_string()),
        };
        match polling.step(polls, &status) {
            TaskStep::Done => return ItemOutcome::Done,
            TaskStep::Failed(why) => return ItemOutcome::Failed(why),
            TaskStep::GiveUp => return ItemOutcome::Failed(rooms_say::gave_up(id)),
            TaskStep::Wait { note, .. } => {
                if note && let Some(tx) = progress {
                    let word = match &status {
                        TaskStatus::Scheduled => "scheduled",
                        TaskStatus::Active => "active",
                        TaskStatus::Other(w) => w.as_str(),
                        _ => "",
                    };
                    let _ = tx.send(rooms_say::still_running(room_id, word).message());
                }
            }
        }
    }
}
