//! Carries out the clean-up commands (`media`, `purge`, `quarantine`,
//! `purge-remote`, `confirm`; the room commands through
//! [`super::room_actions`]) decided by [`crate::core::commands::actions`]: reads a
//! user's media from Synapse, keeps the pending confirmations, appends to
//! the audit log, calls Synapse for exactly the planned media, and reports.
//!
//! Order of a confirmed action: the audit log records the confirmation
//! *before* anything is deleted (no audit log, no action), then each media
//! is acted on, then the outcome is recorded and reported.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::context::{Origin, Reply, StatsContext};
use crate::core::commands::Command;
use crate::core::commands::actions::{
    self, ActionKind, ActionOutcome, ActionPlan, Confirmation, ItemOutcome, Pending, Preview,
};
use crate::core::doc::Doc;
use crate::core::policy::Config;
use crate::core::text::cleanup as say;
use crate::synapse::SynapseError;

/// A progress message every this many media.
const PROGRESS_EVERY: usize = 25;

/// Answers an action command from the room (`yes` false) or the command
/// line (`yes`: carry out at once what the preview holds).
pub async fn answer(
    command: &Command,
    ctx: &StatsContext,
    origin: &Origin,
    now_ms: u64,
    yes: bool,
) -> Reply {
    let config = current_config(ctx).await;
    let Some(config) = config.filter(|c| c.actions.enabled) else {
        return Reply::failed(say::disabled());
    };
    let needed = config
        .matrix
        .as_ref()
        .map_or(crate::core::policy::DEFAULT_ACTION_POWER_LEVEL, |m| {
            m.action_power_level
        });
    let (sender, may_act) = match origin {
        Origin::Cli => (None, true),
        Origin::Matrix { sender, level, .. } => {
            (Some(sender.as_str()), actions::may_act(*level, needed))
        }
    };
    let audit = config.audit_log();
    if let Command::Confirm { code } = command {
        if matches!(origin, Origin::Cli) {
            return Reply::failed(say::confirm_on_cli());
        }
        let decision = match ctx.confirmations.lock() {
            Ok(mut c) => c.confirm(code, may_act, needed, now_ms),
            Err(_) => return Reply::failed(say::failed("internal state poisoned")),
        };
        return match decision {
            Confirmation::Refused(refusal) => {
                let _ = append_off(
                    audit.as_deref(),
                    json!({"ts": now_ms, "event": "refused", "code": code,
                           "by": sender, "reason": format!("{refusal:?}")}),
                )
                .await;
                Reply::failed(say::refused(&refusal))
            }
            Confirmation::Carry { pending, plan } => {
                carry(
                    ctx,
                    origin,
                    audit.as_deref(),
                    &pending,
                    plan,
                    sender,
                    now_ms,
                )
                .await
            }
        };
    }
    if !may_act {
        return Reply::failed(say::not_allowed(needed));
    }
    // `media` lists any local user's uploads, at up to hundreds of admin
    // API requests: a clean-up command, under the same two checks.
    if let Command::Media {
        user_id,
        filter,
        order,
        limit,
    } = command
    {
        return match read_media(ctx, user_id).await {
            Ok(media) => Reply::ok(say::listing(&actions::listing(
                user_id, &media, *filter, *order, *limit, now_ms,
            ))),
            Err(doc) => Reply::failed(doc),
        };
    }
    let Command::Preview(kind) = command else {
        return Reply::failed(say::failed("not an action"));
    };
    let preview = match kind {
        ActionKind::Purge { user_id, filter } => match read_media(ctx, user_id).await {
            Ok(media) => actions::preview_purge(user_id, &media, *filter, now_ms),
            Err(doc) => return Reply::failed(doc),
        },
        ActionKind::Quarantine { user_id } => match read_media(ctx, user_id).await {
            Ok(media) => actions::preview_quarantine(user_id, &media, now_ms),
            Err(doc) => return Reply::failed(doc),
        },
        ActionKind::PurgeRemote { older_than } => {
            actions::preview_purge_remote(*older_than, now_ms)
        }
        ActionKind::PurgeDeactivated { older_than } => match read_deactivated(ctx).await {
            Ok(media) => actions::preview_purge_deactivated(&media, *older_than, now_ms),
            Err(doc) => return Reply::failed(doc),
        },
        ActionKind::DeleteRoom { .. }
        | ActionKind::PurgeHistory { .. }
        | ActionKind::DeleteAbandoned => {
            let protected = protected_rooms(origin, &config);
            match super::room_actions::preview(kind, ctx, &protected, now_ms).await {
                Ok(preview) => preview,
                Err(doc) => return Reply::failed(doc),
            }
        }
    };
    if preview.is_empty() {
        return Reply::ok(say::nothing_to_do(&preview.kind));
    }
    let by = sender.unwrap_or("command line");
    if yes {
        // The command line: the preview just made is the confirmation.
        let pending = Pending {
            code: String::new(),
            preview,
            requested_by: by.to_owned(),
            expires_ms: now_ms,
        };
        let Some(plan) = actions::plan(&pending.preview) else {
            return Reply::ok(say::nothing_to_do(&pending.preview.kind));
        };
        return carry(ctx, origin, audit.as_deref(), &pending, plan, None, now_ms).await;
    }
    if matches!(origin, Origin::Cli) {
        return Reply::ok(say::preview_cli(&preview));
    }
    let valid_for = config.actions.confirm_within;
    let pending = match ctx.confirmations.lock() {
        Ok(mut c) => c.offer(
            preview,
            by,
            actions::code_from(rand::random::<u64>()),
            now_ms,
            valid_for,
        ),
        Err(_) => return Reply::failed(say::failed("internal state poisoned")),
    };
    if let Err(e) = append_off(audit.as_deref(), audit_preview(&pending, now_ms)).await {
        if let Ok(mut c) = ctx.confirmations.lock() {
            c.withdraw(&pending.code);
        }
        return Reply::failed(say::no_audit_log(&e));
    }
    Reply::ok(say::preview(&ctx.prefix, &pending, valid_for))
}

/// Rooms never cleaned up: the admin room the command came from, and the
/// configured admin room when it is given by ID.
fn protected_rooms(origin: &Origin, config: &Config) -> Vec<String> {
    let mut rooms = Vec::new();
    if let Origin::Matrix {
        room_id: Some(id), ..
    } = origin
    {
        rooms.push(id.clone());
    }
    if let Some(m) = &config.matrix
        && m.room.starts_with('!')
    {
        rooms.push(m.room.clone());
    }
    rooms
}

/// The policy in force: the daemon's, or the one read by the command line.
async fn current_config(ctx: &StatsContext) -> Option<Arc<Config>> {
    match &ctx.daemon {
        Some(d) => Some(d.config().await),
        None => ctx.config.clone(),
    }
}

/// Every media of `user_id`, or the reply saying why not.
async fn read_media(ctx: &StatsContext, user_id: &str) -> Result<Vec<actions::Media>, Doc> {
    ctx.synapse.user_media(user_id).await.map_err(|e| match &e {
        SynapseError::UnexpectedStatus { status: 404, .. } => say::unknown_user(user_id),
        SynapseError::InvalidRequest { detail, .. }
            if detail
                .message
                .as_deref()
                .is_some_and(|m| m.contains("local users")) =>
        {
            say::remote_user(user_id)
        }
        _ => say::failed(&e.to_string()),
    })
}

/// Every deactivated local user's media, or the reply saying why not.
async fn read_deactivated(ctx: &StatsContext) -> Result<Vec<(String, Vec<actions::Media>)>, Doc> {
    let users = ctx
        .synapse
        .deactivated_users()
        .await
        .map_err(|e| say::failed(&e.to_string()))?;
    let mut out = Vec::with_capacity(users.len());
    for user_id in users {
        match ctx.synapse.user_media(&user_id).await {
            Ok(media) => out.push((user_id, media)),
            // Gone since it was listed: nothing of theirs to preview.
            Err(SynapseError::UnexpectedStatus { status: 404, .. }) => {}
            Err(e) => return Err(say::failed(&e.to_string())),
        }
    }
    Ok(out)
}

/// Carries out `plan` (from `pending`'s preview), with progress and audit.
async fn carry(
    ctx: &StatsContext,
    origin: &Origin,
    audit: Option<&Path>,
    pending: &Pending,
    plan: ActionPlan,
    confirmed_by: Option<&str>,
    now_ms: u64,
) -> Reply {
    let name = pending.preview.kind.name();
    let record = json!({
        "ts": now_ms, "event": "confirmed", "action": name, "code": pending.code,
        "requested_by": pending.requested_by, "by": confirmed_by.unwrap_or("command line"),
        "plan": plan_json(&plan),
    });
    if let Err(e) = append_off(audit, record).await {
        return Reply::failed(say::no_audit_log(&e));
    }
    let progress = match origin {
        Origin::Matrix { progress, .. } => progress.clone(),
        Origin::Cli => None,
    };
    let outcome = match &plan {
        ActionPlan::Delete {
            server_name,
            media_ids,
            ..
        }
        | ActionPlan::Quarantine {
            server_name,
            media_ids,
            ..
        }
        | ActionPlan::DeleteMedia {
            server_name,
            media_ids,
        } => {
            let delete = !matches!(plan, ActionPlan::Quarantine { .. });
            let mut results = Vec::with_capacity(media_ids.len());
            for (i, id) in media_ids.iter().enumerate() {
                let result = if delete {
                    ctx.synapse.delete_media(server_name, id).await.map(|done| {
                        if done {
                            ItemOutcome::Done
                        } else {
                            ItemOutcome::AlreadyGone
                        }
                    })
                } else {
                    ctx.synapse
                        .quarantine_media(server_name, id)
                        .await
                        .map(|()| ItemOutcome::Done)
                };
                let result = result.unwrap_or_else(|e| ItemOutcome::Failed(e.to_string()));
                tracing::info!(action = name, media_id = %id, ?result, "clean-up");
                results.push((id.clone(), result));
                if let Some(tx) = &progress
                    && actions::progress_due(i + 1, media_ids.len(), PROGRESS_EVERY)
                {
                    let _ = tx.send(say::progress(i + 1, media_ids.len()).message());
                }
            }
            actions::outcome(&pending.preview, &results)
        }
        ActionPlan::PurgeRemote { before_ms } => {
            match ctx.synapse.purge_media_cache(*before_ms).await {
                Ok(deleted) => ActionOutcome {
                    remote_deleted: Some(deleted),
                    ..ActionOutcome::default()
                },
                Err(e) => {
                    let _ = append_off(
                        audit,
                        json!({"ts": now_ms, "event": "failed", "action": name,
                           "code": pending.code, "error": e.to_string()}),
                    )
                    .await;
                    return Reply::failed(say::failed(&e.to_string()));
                }
            }
        }
        ActionPlan::DeleteRooms { .. } | ActionPlan::PurgeHistory { .. } => {
            let results = super::room_actions::carry(ctx, &plan, progress.as_ref()).await;
            actions::outcome(&pending.preview, &results)
        }
    };
    let _ = append_off(
        audit,
        json!({
            "ts": now_ms, "event": "done", "action": name, "code": pending.code,
            "done": outcome.done, "bytes": outcome.bytes,
            "remote_deleted": outcome.remote_deleted,
            "kept": outcome.kept,
            "failed": outcome.failed.iter().map(|(id, why)| json!({failed_key(&plan): id, "error": why})).collect::<Vec<_>>(),
        }),
    ).await;
    let report = say::report(&pending.preview.kind, &outcome, confirmed_by, ctx.max_lines);
    if outcome.failed.is_empty() {
        Reply::ok(report)
    } else {
        Reply::failed(report)
    }
}

/// What a failed item of `plan` is named by in the audit log.
fn failed_key(plan: &ActionPlan) -> &'static str {
    match plan {
        ActionPlan::DeleteRooms { .. } | ActionPlan::PurgeHistory { .. } => "room_id",
        _ => "media_id",
    }
}

fn plan_json(plan: &ActionPlan) -> serde_json::Value {
    match plan {
        ActionPlan::DeleteMedia {
            server_name,
            media_ids,
        } => json!({"delete_media": {"server_name": server_name, "media_ids": media_ids}}),
        ActionPlan::DeleteRooms {
            room_ids,
            block,
            recheck,
        } => json!({"delete_rooms": {"room_ids": room_ids, "block": block, "recheck": recheck}}),
        ActionPlan::PurgeHistory {
            room_id,
            before_ms,
            delete_local_events,
        } => json!({"purge_history": {"room_id": room_id, "purge_up_to_ts": before_ms,
                    "delete_local_events": delete_local_events}}),
        ActionPlan::Delete {
            user_id,
            server_name,
            media_ids,
        } => {
            json!({"delete": {"user_id": user_id, "server_name": server_name, "media_ids": media_ids}})
        }
        ActionPlan::Quarantine {
            user_id,
            server_name,
            media_ids,
        } => {
            json!({"quarantine": {"user_id": user_id, "server_name": server_name, "media_ids": media_ids}})
        }
        ActionPlan::PurgeRemote { before_ms } => json!({"purge_remote": {"before_ts": before_ms}}),
    }
}

fn audit_preview(p: &Pending, now_ms: u64) -> serde_json::Value {
    let preview: &Preview = &p.preview;
    let subject = match &preview.kind {
        ActionKind::Purge { user_id, .. } | ActionKind::Quarantine { user_id } => {
            json!(user_id)
        }
        ActionKind::PurgeRemote { .. }
        | ActionKind::DeleteAbandoned
        | ActionKind::PurgeDeactivated { .. } => json!(null),
        ActionKind::DeleteRoom { .. } | ActionKind::PurgeHistory { .. } => json!(null),
    };
    json!({
        "ts": now_ms, "event": "preview", "action": preview.kind.name(), "code": p.code,
        "by": p.requested_by, "user_id": subject, "expires_ts": p.expires_ms,
        "count": preview.totals.count, "bytes": preview.totals.bytes,
        "before_ts": preview.before_ms,
        "media_ids": preview.media.iter().map(|m| m.media_id.as_str()).collect::<Vec<_>>(),
        "room_ids": preview.rooms.iter().map(|r| r.room_id.as_str()).collect::<Vec<_>>(),
        "users": preview.users.iter().map(|(u, t)| json!({"user_id": u, "count": t.count, "bytes": t.bytes})).collect::<Vec<_>>(),
    })
}

/// [`append`], off the async runtime (it syncs the file to disk).
async fn append_off(path: Option<&Path>, record: serde_json::Value) -> Result<(), String> {
    let path = path.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || append(path.as_deref(), record))
        .await
        .unwrap_or_else(|e| Err(format!("the audit log: {e}")))
}

/// Appends one JSON line to the audit log (created `0600` if missing,
/// never truncated) and syncs it; the error says which file and why.
fn append(path: Option<&Path>, record: serde_json::Value) -> Result<(), String> {
    let path: PathBuf = path
        .map(Path::to_path_buf)
        .ok_or_else(|| "no audit log: set actions.audit_log or matrix.data_dir".to_owned())?;
    let write = || -> std::io::Result<()> {
        // 0600, in a directory made 0700 if missing (the command line may
        // be first to write in the data directory).
        let mut file = crate::private::open_append(&path)?;
        let mut line = record.to_string();
        line.push('\n');
        file.write_all(line.as_bytes())?;
        file.sync_data()
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// `media` is read-only; the others act.
pub fn is_action(command: &Command) -> bool {
    matches!(
        command,
        Command::Media { .. } | Command::Preview(_) | Command::Confirm { .. }
    )
}
