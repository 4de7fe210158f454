//! Commands in the admin room: who may send them, how often, and the
//! threaded reply.
//!
//! A message is a command when it is an `m.room.message` of type `m.text`
//! in the admin room, not from the bot itself, not an edit (`m.replace`),
//! and its body starts with the prefix ([`crate::core::command::parse`]).
//! Its sender must have at least the configured power level in the room,
//! or match the allow-list; anyone else is ignored, without a reply, with a
//! debug log line. Each sender has a token bucket ([`RateLimiter`]): past
//! it, one notice says so and later commands are dropped until it refills.
//! The answer is a notice in reply to the command (in its thread, if it was
//! in one), computed in a task of its own so a slow Synapse never holds up
//! the sync loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use globset::{Glob, GlobSet, GlobSetBuilder};
use matrix_sdk::Room;
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::message::{
    AddMentions, ForwardThread, MessageType, OriginalSyncRoomMessageEvent, Relation,
};
use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, UserId};

use super::BotError;
use super::settings::{BotSettings, RateLimit};
use crate::core::alerts;
use crate::core::command::{self, Command};
use crate::core::doc::Message;
use crate::core::render;
use crate::core::strings;

/// Answers commands; [`crate::app::stats::StatsContext`] in production.
#[async_trait]
pub trait Responder: Send + Sync {
    /// The answer to `command`, asked in the admin room by `sender`.
    /// `device_id` is the bot's device, for `status`.
    async fn respond(&self, command: &Command, device_id: &str, sender: &str) -> Message;

    /// `sender` reacted to `event_id` with an acknowledgement: the reply,
    /// or `None` when that event is not an alert (nothing to say).
    async fn acknowledge(&self, event_id: &str, sender: &str) -> Option<Message>;
}

/// The allow-list as a glob set; an invalid glob is a settings error.
pub fn allow_list(globs: &[String]) -> Result<GlobSet, BotError> {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        let glob = Glob::new(g)
            .map_err(|e| BotError::Settings(format!("allowed sender {g:?} is not a glob: {e}")))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| BotError::Settings(format!("allowed senders: {e}")))
}

/// Whether a sender with `level` in the room, or matching `allowed`, may
/// command the bot.
pub fn may_command(sender: &str, level: UserPowerLevel, min_level: i64, allowed: &GlobSet) -> bool {
    let enough = match level {
        UserPowerLevel::Infinite => true,
        UserPowerLevel::Int(l) => i64::from(l) >= min_level,
        _ => false,
    };
    enough || allowed.is_match(sender)
}

/// What the rate limiter says about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Over the limit, for the first time since the bucket was last
    /// non-empty: say so once.
    LimitedFirst,
    /// Over the limit again: drop silently.
    Limited,
}

#[derive(Debug, Clone)]
struct Bucket {
    /// Tokens, in thousandths.
    milli_tokens: u64,
    last_ms: u64,
    warned: bool,
}

/// A token bucket per sender. Pure: the time is an argument.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// Buckets of `limit.burst` commands, refilled over `limit.per`.
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token of `sender`'s bucket at `now_ms`.
    pub fn admit(&mut self, sender: &str, now_ms: u64) -> Admission {
        let full = u64::from(self.limit.burst) * 1000;
        let per_ms = u64::try_from(self.limit.per.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // Forget senders whose bucket is full again, so the map stays small.
        if self.buckets.len() > 1000 {
            let limit = per_ms;
            self.buckets
                .retain(|_, b| now_ms.saturating_sub(b.last_ms) < limit);
        }
        let bucket = self.buckets.entry(sender.to_owned()).or_insert(Bucket {
            milli_tokens: full,
            last_ms: now_ms,
            warned: false,
        });
        let elapsed = now_ms.saturating_sub(bucket.last_ms);
        let refill = u128::from(elapsed) * u128::from(full) / u128::from(per_ms);
        bucket.milli_tokens = full.min(
            bucket
                .milli_tokens
                .saturating_add(u64::try_from(refill).unwrap_or(u64::MAX)),
        );
        bucket.last_ms = now_ms;
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            bucket.warned = false;
            Admission::Allowed
        } else if bucket.warned {
            Admission::Limited
        } else {
            bucket.warned = true;
            Admission::LimitedFirst
        }
    }
}

/// The command handler's state.
pub(crate) struct Handler {
    pub room_id: OwnedRoomId,
    pub own_user: OwnedUserId,
    pub device_id: String,
    pub prefix: String,
    pub min_level: i64,
    pub allowed: GlobSet,
    pub limiter: Mutex<RateLimiter>,
    pub responder: Arc<dyn Responder>,
    pub rate_limit: RateLimit,
    /// Messages sent before this (Unix ms) are never commands.
    pub not_before_ms: u64,
}

impl Handler {
    pub fn new(
        settings: &BotSettings,
        room_id: OwnedRoomId,
        own_user: OwnedUserId,
        device_id: String,
        responder: Arc<dyn Responder>,
    ) -> Result<Handler, BotError> {
        Ok(Handler {
            room_id,
            own_user,
            device_id,
            prefix: settings.command_prefix.clone(),
            min_level: settings.command_power_level,
            allowed: allow_list(&settings.allowed_senders)?,
            limiter: Mutex::new(RateLimiter::new(settings.rate_limit)),
            responder,
            rate_limit: settings.rate_limit,
            not_before_ms: 0,
        })
    }
}

/// Event handler for `m.room.message`.
pub(crate) async fn on_message(
    event: OriginalSyncRoomMessageEvent,
    room: Room,
    handler: Arc<Handler>,
) {
    if room.room_id() != handler.room_id {
        return;
    }
    if event.sender == handler.own_user {
        return;
    }
    if matches!(event.content.relates_to, Some(Relation::Replacement(_))) {
        return;
    }
    let MessageType::Text(text) = &event.content.msgtype else {
        return;
    };
    if u64::from(event.origin_server_ts.get()) < handler.not_before_ms {
        tracing::debug!(event_id = %event.event_id, "ignoring a message from before the start");
        return;
    }
    let Some(parsed) = command::parse(&handler.prefix, &text.body) else {
        return;
    };
    if !allowed(&room, &event.sender, &handler).await {
        tracing::debug!(sender = %event.sender, event_id = %event.event_id, "ignoring a command from a sender without the power level or allow-listing");
        return;
    }
    let admission = match handler.limiter.lock() {
        Ok(mut limiter) => limiter.admit(event.sender.as_str(), super::now_ms()),
        Err(_) => Admission::Allowed,
    };
    let name = parsed.as_ref().map(Command::name).unwrap_or("usage");
    tracing::info!(sender = %event.sender, event_id = %event.event_id, command = name, ?admission, "command");
    let reply = match (admission, parsed) {
        (Admission::Limited, _) => return,
        (Admission::LimitedFirst, _) => {
            strings::common::rate_limited(handler.rate_limit.burst, handler.rate_limit.per)
                .message()
        }
        (Admission::Allowed, Err(e)) => render::usage(&handler.prefix, &e).message(),
        (Admission::Allowed, Ok(cmd)) => {
            // Answer in a task of its own: the sync loop must not wait for
            // Synapse.
            let handler = handler.clone();
            tokio::spawn(async move {
                let reply = handler
                    .responder
                    .respond(&cmd, &handler.device_id, event.sender.as_str())
                    .await;
                send_reply(&room, &event, reply).await;
            });
            return;
        }
    };
    send_reply(&room, &event, reply).await;
}

/// Whether `sender` may command the bot (and acknowledge alerts).
async fn allowed(room: &Room, sender: &UserId, handler: &Handler) -> bool {
    match room.get_user_power_level(sender).await {
        Ok(level) => may_command(sender.as_str(), level, handler.min_level, &handler.allowed),
        Err(e) => {
            tracing::warn!(%sender, error = %e, "cannot read the room's power levels; ignoring the event");
            false
        }
    }
}

/// Event handler for `m.reaction`: ✅ or 👀 on an alert, from a sender who
/// may command, acknowledges its violations; the bot confirms in the
/// alert's thread. Anything else is ignored.
pub(crate) async fn on_reaction(
    event: OriginalSyncReactionEvent,
    room: Room,
    handler: Arc<Handler>,
) {
    if room.room_id() != handler.room_id || event.sender == handler.own_user {
        return;
    }
    if !alerts::acknowledges(&event.content.relates_to.key) {
        return;
    }
    if u64::from(event.origin_server_ts.get()) < handler.not_before_ms {
        return;
    }
    if !allowed(&room, &event.sender, &handler).await {
        tracing::debug!(sender = %event.sender, event_id = %event.event_id, "ignoring a reaction from a sender without the power level or allow-listing");
        return;
    }
    let admission = match handler.limiter.lock() {
        Ok(mut limiter) => limiter.admit(event.sender.as_str(), super::now_ms()),
        Err(_) => Admission::Allowed,
    };
    if admission != Admission::Allowed {
        tracing::info!(sender = %event.sender, "ignoring an acknowledgement over the rate limit");
        return;
    }
    let target = event.content.relates_to.event_id.clone();
    tracing::info!(sender = %event.sender, alert = %target, "acknowledgement");
    tokio::spawn(async move {
        let Some(reply) = handler
            .responder
            .acknowledge(target.as_str(), event.sender.as_str())
            .await
        else {
            return;
        };
        let mut content = super::alerts::content(&reply);
        content.relates_to = Some(Relation::Thread(Thread::without_fallback(target.clone())));
        if let Err(e) = room.send(content).await {
            tracing::warn!(alert = %target, error = %e, "cannot send the acknowledgement");
        }
    });
}

async fn send_reply(room: &Room, to: &OriginalSyncRoomMessageEvent, reply: Message) {
    let content =
        super::alerts::content(&reply).make_reply_to(to, ForwardThread::Yes, AddMentions::No);
    if let Err(e) = room.send(content).await {
        tracing::warn!(event_id = %to.event_id, error = %e, "cannot send the reply");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_sdk::ruma::int;
    use std::time::Duration;

    #[test]
    fn power_level_or_allow_list() {
        let none = allow_list(&[]).unwrap();
        let ops = allow_list(&["@ops-*:hs".to_owned()]).unwrap();
        assert!(may_command(
            "@a:hs",
            UserPowerLevel::Int(int!(50)),
            50,
            &none
        ));
        assert!(may_command("@a:hs", UserPowerLevel::Infinite, 50, &none));
        assert!(!may_command(
            "@a:hs",
            UserPowerLevel::Int(int!(49)),
            50,
            &none
        ));
        assert!(may_command(
            "@ops-1:hs",
            UserPowerLevel::Int(int!(0)),
            50,
            &ops
        ));
        assert!(!may_command(
            "@ops-1:other",
            UserPowerLevel::Int(int!(0)),
            50,
            &ops
        ));
        assert!(allow_list(&["[".to_owned()]).is_err());
    }

    #[test]
    fn token_bucket_per_sender_warns_once() {
        let mut l = RateLimiter::new(RateLimit {
            burst: 2,
            per: Duration::from_secs(10),
        });
        assert_eq!(l.admit("@a:hs", 0), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 0), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 0), Admission::LimitedFirst);
        assert_eq!(l.admit("@a:hs", 1000), Admission::Limited);
        assert_eq!(l.admit("@b:hs", 1000), Admission::Allowed, "per sender");
        // 2 per 10 s: one token back after 5 s.
        assert_eq!(l.admit("@a:hs", 5000), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 5000), Admission::LimitedFirst);
        assert_eq!(l.admit("@a:hs", 100_000), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 100_000), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 100_000), Admission::LimitedFirst);
        // Time going backwards refills nothing and does not panic.
        assert_eq!(l.admit("@a:hs", 0), Admission::Limited);
    }
}
