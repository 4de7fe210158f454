//! The admin's side of the end-to-end tests: a real matrix-sdk client
//! logged in on a real Synapse, and what it sees in its rooms.
//!
//! [`admin_client`] logs a user in on a device of its own (its own store
//! directory, a display name the test chooses), E2EE-capable, so one client
//! serves plain and encrypted rooms: it cross-signs its device and shares
//! room keys only with devices their owner cross-signed (MSC4153's
//! identity-based strategy). It syncs in the background and hands every
//! text, notice and image message to an [`Inbox`] as a [`Seen`].

use std::path::Path;
use std::time::{Duration, Instant};

use matrix_sdk::config::SyncSettings;
use matrix_sdk::encryption::EncryptionSettings;
use matrix_sdk::ruma::events::room::MediaSource;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, RoomId, UserId};
use matrix_sdk::{Client, Room, RoomState};
use tokio::sync::mpsc;

use test_support::synapse::{SynapseHarness, TestUser};

/// An image's source, width and height, as its event gives them.
pub(crate) type Image = (MediaSource, Option<u64>, Option<u64>);

/// A message the admin's client saw: a text, a notice or an image.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub sender: String,
    /// The text, or the image's body (its file name).
    pub body: String,
    /// The event it replies to, also within a thread.
    pub in_reply_to: Option<OwnedEventId>,
    /// The root of the thread it is in.
    pub thread: Option<OwnedEventId>,
    /// Set for an image.
    pub image: Option<Image>,
}

impl Seen {
    fn from_event(ev: &OriginalSyncRoomMessageEvent, room: &Room) -> Option<Seen> {
        let (body, image) = match &ev.content.msgtype {
            MessageType::Text(t) => (t.body.clone(), None),
            MessageType::Notice(n) => (n.body.clone(), None),
            MessageType::Image(i) => {
                let info = i.info.as_ref();
                (
                    i.body.clone(),
                    Some((
                        i.source.clone(),
                        info.and_then(|i| i.width).map(u64::from),
                        info.and_then(|i| i.height).map(u64::from),
                    )),
                )
            }
            _ => return None,
        };
        let (in_reply_to, thread) = match &ev.content.relates_to {
            Some(Relation::Reply(reply)) => (Some(reply.in_reply_to.event_id.clone()), None),
            Some(Relation::Thread(t)) => (
                t.in_reply_to.as_ref().map(|r| r.event_id.clone()),
                Some(t.event_id.clone()),
            ),
            _ => (None, None),
        };
        Some(Seen {
            room_id: room.room_id().to_owned(),
            event_id: ev.event_id.clone(),
            sender: ev.sender.to_string(),
            body,
            in_reply_to,
            thread,
            image,
        })
    }
}

/// Messages seen by the admin's client, kept for later questions.
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<Seen>,
    /// Everything taken from the client so far, oldest first.
    pub seen: Vec<Seen>,
    /// How long a wait may last.
    wait: Duration,
}

impl Inbox {
    /// The first message (seen already, or coming within the inbox's
    /// deadline) that `pred` accepts; a panic naming `what` if none comes.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        if let Some(s) = self.seen.iter().find(|s| pred(s)) {
            return s.clone();
        }
        let deadline = Instant::now() + self.wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(s)) => {
                    self.seen.push(s.clone());
                    if pred(&s) {
                        return s;
                    }
                }
                Ok(None) | Err(_) => panic!("timed out waiting for {what}; seen {:#?}", self.seen),
            }
        }
    }

    /// The first message from `from` whose body contains `text`.
    pub async fn said(&mut self, what: &str, from: &str, text: &str) -> Seen {
        self.wait_for(what, |s| s.sender == from && s.body.contains(text))
            .await
    }

    /// The first message from `from` in reply to `event_id` that `pred`
    /// accepts.
    pub async fn reply_where(
        &mut self,
        event_id: &OwnedEventId,
        from: &str,
        pred: impl Fn(&Seen) -> bool,
    ) -> Seen {
        self.wait_for(&format!("the reply to {event_id}"), |s| {
            s.sender == from && s.in_reply_to.as_ref() == Some(event_id) && pred(s)
        })
        .await
    }

    /// The first message from `from` in reply to `event_id`.
    pub async fn reply_to(&mut self, event_id: &OwnedEventId, from: &str) -> Seen {
        self.reply_where(event_id, from, |_| true).await
    }

    /// Takes everything that arrived so far into [`Self::seen`].
    pub fn drain(&mut self) {
        while let Ok(s) = self.rx.try_recv() {
            self.seen.push(s);
        }
    }
}

/// A matrix-sdk client of `user` (whose password is `password`) on a new
/// device named `device_name`, with its store in `store`, syncing; and what
/// it sees, each wait of the inbox lasting at most `wait`.
pub(crate) async fn admin_client(
    h: &SynapseHarness,
    user: &TestUser,
    password: &str,
    store: &Path,
    device_name: &str,
    wait: Duration,
) -> (Client, Inbox) {
    let client = Client::builder()
        .homeserver_url(h.base_url().as_str())
        .sqlite_store(store, None)
        .with_encryption_settings(EncryptionSettings {
            auto_enable_cross_signing: true,
            ..EncryptionSettings::default()
        })
        .with_room_key_recipient_strategy(
            // `CollectStrategy` is not re-exported by matrix-sdk.
            serde_json::from_value(serde_json::json!("IdentityBasedStrategy"))
                .expect("a known strategy"),
        )
        .build()
        .await
        .unwrap();
    client
        .matrix_auth()
        .login_username(&user.user_id, password)
        .initial_device_display_name(device_name)
        .send()
        .await
        .unwrap();
    client
        .encryption()
        .wait_for_e2ee_initialization_tasks()
        .await;
    let (tx, rx) = mpsc::unbounded_channel();
    client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
        let tx = tx.clone();
        async move {
            if let Some(seen) = Seen::from_event(&ev, &room) {
                let _ = tx.send(seen);
            }
        }
    });
    let syncing = client.clone();
    tokio::spawn(async move {
        let _ = syncing.sync(SyncSettings::default()).await;
    });
    let inbox = Inbox {
        rx,
        seen: Vec::new(),
        wait,
    };
    (client, inbox)
}

/// The room, once `client` has joined it and sees `user` joined too
/// (within `wait`).
pub(crate) async fn joined(client: &Client, room_id: &RoomId, user: &str, wait: Duration) -> Room {
    let user = UserId::parse(user).unwrap();
    let deadline = Instant::now() + wait;
    loop {
        if let Some(room) = client.get_room(room_id)
            && room.state() == RoomState::Joined
            && let Ok(Some(member)) = room.get_member(&user).await
            && *member.membership() == MembershipState::Join
        {
            return room;
        }
        assert!(Instant::now() < deadline, "{user} never joined {room_id}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends a plain text message; its event ID.
pub(crate) async fn send(room: &Room, body: &str) -> OwnedEventId {
    room.send(RoomMessageEventContent::text_plain(body))
        .await
        .unwrap()
        .response
        .event_id
}
