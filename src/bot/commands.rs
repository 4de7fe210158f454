//! Commands in the admin room: who may send them, how often, and the
//! threaded reply.
//!
//! A message is a command when it is an `m.room.message` of type `m.text`
//! in the admin room, not from the bot itself, not an edit (`m.replace`),
//! and its body starts with the prefix ([`crate::core::commands::parse`]).
//! Its sender must have at least the configured power level in the room,
//! or match the allow-list; anyone else is ignored, without a reply, with a
//! debug log line. Each sender has a token bucket
//! ([`crate::core::commands::rate_limit::RateLimiter`]): past
//! it, one notice says so and later commands are dropped until it refills.
//! The answer is a notice in reply to the command (in its thread, if it was
//! in one), computed in a task of its own so a slow Synapse never holds up
//! the sync loop.
//!
//! A ✅ or 👀 reaction to an alert from a sender who may command
//! acknowledges the alert's violations ([`on_reaction`]).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use matrix_sdk::Room;
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::message::{
    AddMentions, ForwardThread, MessageType, OriginalSyncRoomMessageEvent, Relation,
};
use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, UserId};

use crate::core::alerting::lifecycle;
use crate::core::commands::rate_limit::{Admission, RateLimiter};
use crate::core::commands::{self, Command};
use crate::core::doc::Message;
use crate::core::policy::CommandAccess;
use crate::core::text;
use crate::core::text::replies;

/// Who asked, for commands that act.
#[derive(Debug, Clone)]
pub struct Asker {
    /// The sender.
    pub user_id: String,
    /// Their power level in the admin room (`i64::MAX` when infinite,
    /// `None` when unknown).
    pub level: Option<i64>,
    /// Messages to post, in reply to the command, before the answer
    /// (progress of a long action).
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<Message>>,
    /// The admin room the command came from.
    pub room_id: Option<String>,
}

/// Answers commands; [`crate::app::context::StatsContext`] in production.
#[async_trait]
pub trait Responder: Send + Sync {
    /// The answer to `command`, asked in the admin room by `asker`, and an
    /// image to post after it (the chart of `trend`). `device_id` is the
    /// bot's device, for `status`.
    async fn respond_with_image(
        &self,
        command: &Command,
        device_id: &str,
        asker: Asker,
    ) -> (Message, Option<crate::chart::Png>);

    /// The answer alone, without the image.
    async fn respond(&self, command: &Command, device_id: &str, asker: Asker) -> Message {
        self.respond_with_image(command, device_id, asker).await.0
    }

    /// `sender` reacted to `event_id` with an acknowledgement: the reply,
    /// or `None` when that event is not an alert (nothing to say).
    async fn acknowledge(&self, event_id: &str, sender: &str) -> Option<Message>;
}

/// A sender's power level in the admin room as a number: `None` when it
/// is none that counts.
pub fn level_of(level: UserPowerLevel) -> Option<i64> {
    match level {
        UserPowerLevel::Infinite => Some(i64::MAX),
        UserPowerLevel::Int(l) => Some(i64::from(l)),
        _ => None,
    }
}

/// The command access in force and its rate limiter; a reload swaps the
/// access ([`crate::bot::Bot::set_commands`]).
#[derive(Debug)]
pub(crate) struct Access {
    commands: CommandAccess,
    limiter: RateLimiter,
}

impl Access {
    pub fn new(commands: CommandAccess) -> Access {
        Access {
            limiter: RateLimiter::new(commands.rate_limit),
            commands,
        }
    }

    /// Whether `sender`, with power level `level` in the admin room, may
    /// command the bot (`None`: ignore them) and, if so, what the rate
    /// limit in force says at `now_ms`.
    fn admit(&mut self, sender: &str, level: UserPowerLevel, now_ms: u64) -> Option<Admission> {
        self.commands
            .may_command(sender, level_of(level))
            .then(|| self.limiter.admit(sender, now_ms))
    }

    /// Puts `commands` in force. The senders' buckets are kept unless the
    /// rate limit itself changed.
    pub fn replace(&mut self, commands: CommandAccess) {
        if commands.rate_limit != self.commands.rate_limit {
            self.limiter = RateLimiter::new(commands.rate_limit);
        }
        self.commands = commands;
    }
}

/// The command handler's state.
pub(crate) struct Handler {
    pub room_id: OwnedRoomId,
    pub own_user: OwnedUserId,
    pub device_id: String,
    pub access: Arc<Mutex<Access>>,
    pub responder: Arc<dyn Responder>,
    /// Messages sent before this (Unix ms) are never commands.
    pub not_before_ms: u64,
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
    let Some(prefix) = handler
        .access
        .lock()
        .ok()
        .map(|access| access.commands.prefix.clone())
    else {
        return;
    };
    let Some(parsed) = commands::parse(&prefix, &text.body) else {
        return;
    };
    let Some(level) = power_level(&room, &event.sender, "command").await else {
        return;
    };
    // With the access in force now (a reload may have changed it).
    let admitted = handler.access.lock().ok().and_then(|mut access| {
        let admission = access.admit(event.sender.as_str(), level, crate::clock::now_ms())?;
        Some((admission, access.commands.rate_limit))
    });
    let Some((admission, rate_limit)) = admitted else {
        tracing::debug!(sender = %event.sender, event_id = %event.event_id, "ignoring a command from a sender without the power level or allow-listing");
        return;
    };
    let name = parsed.as_ref().map(Command::name).unwrap_or("usage");
    tracing::info!(sender = %event.sender, event_id = %event.event_id, command = name, ?admission, "command");
    let reply = match (admission, parsed) {
        (Admission::Limited, _) => return,
        (Admission::LimitedFirst, _) => {
            text::common::rate_limited(rate_limit.burst, rate_limit.per).message()
        }
        (Admission::Allowed, Err(e)) => replies::usage(&prefix, &e).message(),
        (Admission::Allowed, Ok(cmd)) => {
            // Answer in a task of its own: the sync loop must not wait for
            // Synapse.
            let handler = handler.clone();
            tokio::spawn(async move {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
                let asker = Asker {
                    user_id: event.sender.to_string(),
                    level: level_of(level),
                    progress: Some(tx),
                    room_id: Some(room.room_id().to_string()),
                };
                let forward = {
                    let (room, event) = (room.clone(), event.clone());
                    tokio::spawn(async move {
                        while let Some(note) = rx.recv().await {
                            send_reply(&room, &event, note).await;
                        }
                    })
                };
                let (reply, image) = handler
                    .responder
                    .respond_with_image(&cmd, &handler.device_id, asker)
                    .await;
                // The progress channel closes with the answer: post what
                // it holds first.
                let _ = forward.await;
                send_reply(&room, &event, reply).await;
                if let Some(png) = image {
                    send_image(&room, &event, png).await;
                }
            });
            return;
        }
    };
    send_reply(&room, &event, reply).await;
}

/// Event handler for `m.reaction`: ✅ or 👀 on an alert, from a sender who
/// may command (and within the rate limit), acknowledges its violations;
/// the bot confirms in the alert's thread. Anything else is ignored.
pub(crate) async fn on_reaction(
    event: OriginalSyncReactionEvent,
    room: Room,
    handler: Arc<Handler>,
) {
    if room.room_id() != handler.room_id || event.sender == handler.own_user {
        return;
    }
    if !lifecycle::acknowledges(&event.content.relates_to.key) {
        return;
    }
    if u64::from(event.origin_server_ts.get()) < handler.not_before_ms {
        return;
    }
    let Some(level) = power_level(&room, &event.sender, "reaction").await else {
        return;
    };
    let admitted =
        handler.access.lock().ok().and_then(|mut access| {
            access.admit(event.sender.as_str(), level, crate::clock::now_ms())
        });
    match admitted {
        None => {
            tracing::debug!(sender = %event.sender, event_id = %event.event_id, "ignoring a reaction from a sender without the power level or allow-listing");
            return;
        }
        Some(Admission::Allowed) => {}
        Some(_) => {
            tracing::info!(sender = %event.sender, "ignoring an acknowledgement over the rate limit");
            return;
        }
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
        let mut content = super::post::content(&reply);
        content.relates_to = Some(Relation::Thread(Thread::without_fallback(target.clone())));
        if let Err(e) = room.send(content).await {
            tracing::warn!(alert = %target, error = %e, "cannot send the acknowledgement");
        }
    });
}

/// `sender`'s power level in the admin room; `None` (logged) when the
/// room's power levels cannot be read, and the `what` is then ignored.
async fn power_level(room: &Room, sender: &UserId, what: &str) -> Option<UserPowerLevel> {
    match room.get_user_power_level(sender).await {
        Ok(level) => Some(level),
        Err(e) => {
            tracing::warn!(%sender, error = %e, "cannot read the room's power levels; ignoring the {what}");
            None
        }
    }
}

async fn send_reply(room: &Room, to: &OriginalSyncRoomMessageEvent, reply: Message) {
    let content =
        super::post::content(&reply).make_reply_to(to, ForwardThread::Yes, AddMentions::No);
    if let Err(e) = room.send(content).await {
        tracing::warn!(event_id = %to.event_id, error = %e, "cannot send the reply");
    }
}

/// Posts `png` in reply to the command: uploaded encrypted in an
/// encrypted room (matrix-sdk's `send_attachment`), with its size, no
/// mention.
async fn send_image(room: &Room, to: &OriginalSyncRoomMessageEvent, png: crate::chart::Png) {
    use matrix_sdk::room::reply::{EnforceThread, Reply};
    let config = super::post::image_attachment(&png).reply(Some(Reply {
        event_id: to.event_id.clone(),
        enforce_thread: EnforceThread::MaybeThreaded,
        add_mentions: AddMentions::No,
    }));
    if let Err(e) = room
        .send_attachment("trend.png", &mime::IMAGE_PNG, png.bytes, config)
        .await
    {
        tracing::warn!(event_id = %to.event_id, error = %e, "cannot send the chart");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::{Patterns, RateLimit};
    use matrix_sdk::ruma::int;
    use std::time::Duration;

    #[test]
    fn power_level_or_allow_list() {
        let mut access = CommandAccess::default();
        let may = |a: &CommandAccess, sender: &str, level| a.may_command(sender, level_of(level));
        assert!(may(&access, "@a:hs", UserPowerLevel::Int(int!(50))));
        assert!(may(&access, "@a:hs", UserPowerLevel::Infinite));
        assert!(!may(&access, "@a:hs", UserPowerLevel::Int(int!(49))));
        access.allowed_senders = Patterns::new(&["@ops-*:hs"]).unwrap();
        assert!(may(&access, "@ops-1:hs", UserPowerLevel::Int(int!(0))));
        assert!(!may(&access, "@ops-1:other", UserPowerLevel::Int(int!(0))));
        access.power_level = 0;
        assert!(may(&access, "@a:hs", UserPowerLevel::Int(int!(0))));
    }

    #[test]
    fn a_new_access_keeps_the_buckets_unless_the_limit_changed() {
        let one = |access: &mut Access| access.limiter.admit("@a:hs", 0);
        let mut access = Access::new(CommandAccess {
            rate_limit: RateLimit {
                burst: 1,
                per: Duration::from_secs(60),
            },
            ..CommandAccess::default()
        });
        assert_eq!(one(&mut access), Admission::Allowed);
        assert_eq!(one(&mut access), Admission::LimitedFirst);
        let mut same = access.commands.clone();
        same.prefix = "!w".into();
        access.replace(same);
        assert_eq!(access.commands.prefix, "!w");
        assert_eq!(
            one(&mut access),
            Admission::Limited,
            "same limit, same bucket"
        );
        let mut wider = access.commands.clone();
        wider.rate_limit.burst = 2;
        access.replace(wider);
        assert_eq!(
            one(&mut access),
            Admission::Allowed,
            "a new limit, new buckets"
        );
        assert_eq!(one(&mut access), Admission::Allowed);
        assert_eq!(one(&mut access), Admission::LimitedFirst);
    }
}
