//! The daemon's loop and alert lifecycle against a real Synapse (SQLite),
//! with a recording notifier standing in for the Matrix room: it de-duplicates
//! by transaction ID as a homeserver does, and can be made to fail like an
//! unreachable homeserver.
//!
//! A violation is posted once, reminded after `repeat_after`, escalated,
//! resolved; a restart does not repeat it; Matrix being down queues messages
//! and delivers them once, in order, when it returns; Synapse being down is
//! announced once and its recovery once; a bad reload keeps the old rules and
//! posts the errors with their line and column; a corrupt state file is set
//! aside and announced.
//!
//! With the real bot as notifier: an announcement posted just before a
//! `kill -9` (not saved as delivered) is in the room once after the restart,
//! and one queued before a crash that came before the send is delivered
//! once. Faults of Synapse, through the fake, are in `daemon_faults`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use synapse_warden::bot::{Bot, BotSettings, Secret};
use synapse_warden::core::alerting::lifecycle::Outgoing;
use synapse_warden::core::doc::Message;
use synapse_warden::core::policy::{self, Config};
use synapse_warden::daemon::metrics::Metrics;
use synapse_warden::daemon::service::Daemon;
use synapse_warden::daemon::shared::{Notifier, NotifyError, Readiness, Shared};
use synapse_warden::daemon::state::DaemonState;
use synapse_warden::synapse::client::ModuleSecret;
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};

use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

/// An image posted: width, height, PNG bytes.
pub type Image = (u32, u32, Vec<u8>);

/// The room, as far as the daemon can tell: messages by transaction ID.
#[derive(Default)]
pub struct Room {
    pub messages: Mutex<Vec<(String, Message)>>,
    /// Images posted, by transaction ID.
    pub images: Mutex<Vec<(String, Image)>>,
    pub down: Mutex<bool>,
    /// Images are refused (text still goes through).
    pub images_down: Mutex<bool>,
}

impl Room {
    pub fn plain(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.plain.clone())
            .collect()
    }

    pub fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }
}

#[async_trait]
impl Notifier for Room {
    async fn send(&self, txn_id: &str, message: &Message) -> Result<String, NotifyError> {
        if *self.down.lock().unwrap() {
            return Err(NotifyError("the homeserver is unreachable".into()));
        }
        let mut messages = self.messages.lock().unwrap();
        if !messages.iter().any(|(t, _)| t == txn_id) {
            messages.push((txn_id.to_owned(), message.clone()));
        }
        Ok(format!("${txn_id}"))
    }

    async fn send_image(
        &self,
        txn_id: &str,
        png: &synapse_warden::chart::Png,
    ) -> Result<String, NotifyError> {
        if *self.down.lock().unwrap() || *self.images_down.lock().unwrap() {
            return Err(NotifyError("the homeserver is unreachable".into()));
        }
        let mut images = self.images.lock().unwrap();
        if !images.iter().any(|(t, _)| t == txn_id) {
            images.push((
                txn_id.to_owned(),
                (png.width, png.height, png.bytes.clone()),
            ));
        }
        Ok(format!("${txn_id}"))
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub policy: PathBuf,
    /// The policy last written, for [`Fixture::edit`].
    written: Option<Policy>,
    pub room: Arc<Room>,
    /// The metrics every daemon of the fixture updates (as `/metrics` serves).
    pub metrics: Arc<Metrics>,
    /// What the last daemon made shares with the bot (`!stats top`, status).
    pub shared: Mutex<Option<Arc<Shared>>>,
    /// The warden's Synapse module secret its daemons' clients carry.
    pub module_secret: Option<String>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            policy: PathBuf::new(),
            written: None,
            room: Arc::new(Room::default()),
            metrics: Arc::new(Metrics::new()),
            shared: Mutex::new(None),
            module_secret: None,
        }
    }

    pub fn write_policy(&mut self, url: &str, token: &str, rules: &str) -> Config {
        let text = self.write_policy_text(url, token, rules);
        policy::parse("policies.yaml", &text).unwrap_or_else(|e| panic!("{}", e.report()))
    }

    /// Writes the policy file without checking it (for bad reloads): the
    /// fixture's settings (reminders after 2 s, escalation at +50%, a 5 s
    /// timeout) and `rules`, the YAML under `rules:`.
    pub fn write_policy_text(&mut self, url: &str, token: &str, rules: &str) -> String {
        let token_path = self.dir.path().join("token");
        std::fs::write(&token_path, token).unwrap();
        let policy = Policy::new(url, SecretAt::File(token_path))
            .set("synapse.timeout", "5s")
            .set("schedule.every", "1h")
            .set("alerts.repeat_after", "2s")
            .set("alerts.escalate_on_growth", "50%")
            .rules(rules);
        self.write(policy)
    }

    /// Rewrites the policy file with `edit` applied to the fixture's policy
    /// (e.g. a longer `alerts.repeat_after`), and returns the parsed result.
    pub fn edit(&mut self, edit: impl FnOnce(Policy) -> Policy) -> Config {
        let policy = self.written.take().expect("a policy was written");
        let text = self.write(edit(policy));
        policy::parse("policies.yaml", &text).unwrap_or_else(|e| panic!("{}", e.report()))
    }

    /// Rewrites the policy file with `edit` applied to its text (a rule's
    /// key), and returns the parsed result.
    pub fn edit_policy(&mut self, edit: impl FnOnce(&str) -> String) -> Config {
        let text = edit(&std::fs::read_to_string(&self.policy).unwrap());
        std::fs::write(&self.policy, &text).unwrap();
        self.written = None;
        policy::parse("policies.yaml", &text).unwrap_or_else(|e| panic!("{}", e.report()))
    }

    fn write(&mut self, policy: Policy) -> String {
        let text = policy.yaml();
        self.policy = self.dir.path().join("policies.yaml");
        std::fs::write(&self.policy, &text).unwrap();
        self.written = Some(policy);
        text
    }

    /// A daemon posting to the fixture's recording [`Room`].
    pub fn daemon(&self, config: Config) -> Daemon {
        self.daemon_with(config, self.room.clone())
    }

    /// A daemon posting through `notifier` (the real bot, say), with the
    /// fixture's policy and state files.
    pub fn daemon_with(&self, config: Config, notifier: Arc<dyn Notifier>) -> Daemon {
        let token_file = self.dir.path().join("token");
        let module_secret = self.module_secret.clone();
        let make_client = Box::new(move |config: &Config| {
            let token = std::fs::read_to_string(&token_file).map_err(|e| e.to_string())?;
            let mut c = ClientConfig::new(config.synapse.url.clone(), AdminToken::new(token));
            c.retry = RetryPolicy::none();
            c.timeout = config.synapse.timeout;
            let client = SynapseClient::new(c).map_err(|e| e.to_string())?;
            Ok(match &module_secret {
                Some(secret) => client.with_module_secret(ModuleSecret::new(secret)),
                None => client,
            })
        });
        let (daemon, shared) = Daemon::new(
            config,
            self.policy.clone(),
            make_client,
            notifier,
            self.dir.path().join("state.json"),
            self.metrics.clone(),
            Arc::new(Readiness::default()),
        )
        .unwrap();
        *self.shared.lock().unwrap() = Some(shared);
        daemon
    }

    /// When the last run whose top lists `!stats top` answers from started.
    pub async fn snapshot_taken_ms(&self) -> Option<u64> {
        let shared = self.shared.lock().unwrap().clone()?;
        let snapshot = shared.snapshot.read().await.clone()?;
        Some(snapshot.taken_at_ms)
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }
}

pub const QUOTA: &str = "  user_media:\n    - name: quota\n      description: Users may keep 4 KiB.\n      severity: warning\n      max_media_length: 4 KiB\n";

async fn seed(h: &SynapseHarness) -> (TestUser, TestUser) {
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bob = h.register("bob", "bob-password", false).await.unwrap();
    h.upload_media(&bob, 1024).await.unwrap();
    (admin, alice)
}

pub fn count(messages: &[String], needle: &str) -> usize {
    messages.iter().filter(|m| m.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_new_quiet_reminder_escalation_resolution_and_restart() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let (admin, alice) = seed(&h).await;
    let mut f = Fixture::new();
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, QUOTA);

    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(m[0].contains("1 new violation"), "{}", m[0]);
    assert!(
        m[0].contains("NEW warning quota: @alice:warden.test"),
        "{}",
        m[0]
    );
    assert!(!m[0].contains("@bob"), "{}", m[0]);

    // Nothing new: quiet.
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(f.room.plain().len(), 1);

    // A restart from the same state does not repeat it.
    drop(daemon);
    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(f.room.plain().len(), 1, "{:#?}", f.room.plain());

    // After repeat_after: a reminder.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(
        m[1].contains("STILL OPEN warning quota: @alice"),
        "{}",
        m[1]
    );

    // Usage grows by more than half: escalated at once.
    h.upload_media(&alice, 4 * 1024).await.unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 3, "{m:#?}");
    assert!(m[2].contains("ESCALATED warning quota: @alice"), "{}", m[2]);

    // The limit is raised: resolved.
    f.write_policy(
        h.base_url().as_str(),
        &admin.access_token,
        &QUOTA.replace("4 KiB", "1 MiB"),
    );
    daemon.reload().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert!(m[3].contains("reloaded"), "{m:#?}");
    assert!(
        m[4].contains("RESOLVED") && m[4].contains("@alice"),
        "{m:#?}"
    );
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(f.room.plain().len(), 5, "{:#?}", f.room.plain());
    assert_eq!(count(&f.room.plain(), "NEW"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_down_queues_and_delivers_once_in_order() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let (admin, _alice) = seed(&h).await;
    let mut f = Fixture::new();
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, QUOTA);
    f.room.set_down(true);
    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    f.write_policy_text(
        h.base_url().as_str(),
        &admin.access_token,
        "  user_media: []\n",
    );
    let refused = daemon.reload().await.unwrap();
    assert!(refused.is_err());
    assert!(f.room.plain().is_empty());
    // The queue survives a restart.
    drop(daemon);
    let state = std::fs::read_to_string(f.state_path()).unwrap();
    assert!(state.contains("NEW warning quota"), "{state}");
    f.room.set_down(false);
    let mut daemon = f.daemon(config);
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(m[0].contains("NEW warning quota: @alice"), "{m:#?}");
    assert!(m[1].contains("reload refused"), "{m:#?}");
    assert!(
        m[1].contains("policies.yaml:"),
        "the errors name the line: {}",
        m[1]
    );
    assert!(!state.contains("admin-password") && !state.contains(&admin.access_token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synapse_down_is_announced_once_and_recovery_once() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let (admin, _alice) = seed(&h).await;
    let mut f = Fixture::new();
    // Nothing listens on port 9 of loopback.
    let config = f.write_policy("http://127.0.0.1:9", &admin.access_token, QUOTA);
    let mut daemon = f.daemon(config);
    assert!(daemon.run_once().await.unwrap().is_err());
    assert!(daemon.run_once().await.unwrap().is_err());
    let m = f.room.plain();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(
        m[0].contains("Synapse has not answered properly since"),
        "{}",
        m[0]
    );
    assert!(!m[0].contains(&admin.access_token));
    f.write_policy(h.base_url().as_str(), &admin.access_token, QUOTA);
    daemon.reload().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(count(&m, "Synapse answers again"), 1, "{m:#?}");
    assert_eq!(count(&m, "NEW warning quota"), 1, "{m:#?}");
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(f.room.plain().len(), m.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_unsupported_on_sqlite_is_said_once() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let (admin, _alice) = seed(&h).await;
    let mut f = Fixture::new();
    let rules =
        format!("{QUOTA}  rooms:\n    - name: big-rooms\n      max_estimated_size: 1 GiB\n");
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, &rules);
    let mut daemon = f.daemon(config);
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(
        count(
            &m,
            "room size limits are not checked: this Synapse uses SQLite"
        ),
        1,
        "{m:#?}"
    );
    assert_eq!(count(&m, "NEW warning quota"), 1, "{m:#?}");
}

#[tokio::test]
async fn corrupt_state_is_set_aside_and_announced() {
    let mut f = Fixture::new();
    let config = f.write_policy("http://127.0.0.1:9", "token", QUOTA);
    std::fs::write(f.state_path(), b"{\"alerts\": [tru").unwrap();
    let mut daemon = f.daemon(config);
    assert!(daemon.run_once().await.unwrap().is_err());
    let m = f.room.plain();
    assert!(
        m[0].contains("my state file was unreadable and has been set aside"),
        "{m:#?}"
    );
    let aside: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.json.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(Path::new(&f.state_path()).exists());
}

/// The bot user's password in the real-bot tests.
const BOT_PASSWORD: &str = "bot-password";

/// A real Synapse with Alice over the quota, an admin room the bot is
/// invited to, and one announcement ("NEW warning quota: @alice") queued in
/// the daemon's state file: the first run happened while the room was
/// unreachable, and the daemon is gone.
struct Queued {
    h: SynapseHarness,
    admin: TestUser,
    bot: TestUser,
    room_id: String,
    f: Fixture,
    config: Config,
    outgoing: Outgoing,
}

async fn queued_announcement() -> Queued {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let (admin, _alice) = seed(&h).await;
    let bot = h.register("warden", BOT_PASSWORD, false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let mut f = Fixture::new();
    f.write_policy(h.base_url().as_str(), &admin.access_token, QUOTA);
    // No reminder can come between the runs of these tests.
    let config = f.edit(|p| p.set("alerts.repeat_after", "1h"));
    f.room.set_down(true);
    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    drop(daemon);
    let state = read_state(&f);
    assert_eq!(state.alerts.outbox.len(), 1, "{state:#?}");
    let outgoing = state.alerts.outbox[0].clone();
    assert!(
        outgoing
            .plain
            .contains("NEW warning quota: @alice:warden.test"),
        "{outgoing:#?}"
    );
    Queued {
        h,
        admin,
        bot,
        room_id,
        f,
        config,
        outgoing,
    }
}

impl Queued {
    /// The bot's settings; its data directory (session, device, store) is
    /// the same for every start.
    fn settings(&self) -> BotSettings {
        let mut s = BotSettings::new(
            self.h.base_url().clone(),
            self.bot.user_id.clone(),
            self.room_id.clone(),
            self.f.dir.path().join("bot"),
            Secret::new("store passphrase"),
        );
        s.password = Some(Secret::new(BOT_PASSWORD));
        s
    }

    fn message(&self) -> Message {
        Message {
            plain: self.outgoing.plain.clone(),
            html: self.outgoing.html.clone(),
        }
    }

    /// The `(event ID, body)` of every message the bot sent to the room,
    /// oldest first, as the admin reads them through the client-server API.
    async fn bot_messages(&self) -> Vec<(String, String)> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
            self.room_id
        );
        let (status, page) = self.h.get_json(&self.admin, &path).await.unwrap();
        assert!(status.is_success(), "{status}: {page}");
        let mut out: Vec<(String, String)> = page["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.message" && e["sender"] == self.bot.user_id.as_str())
            .map(|e| {
                (
                    e["event_id"].as_str().unwrap().to_owned(),
                    e["content"]["body"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.reverse();
        out
    }

    /// Starts a daemon with the real bot as notifier, from the state file
    /// left behind, and lets it run once (which delivers the outbox first
    /// thing after the run).
    async fn restart_with(&self, bot: Arc<Bot>) {
        let mut daemon = self.f.daemon_with(self.config.clone(), bot);
        daemon.run_once().await.unwrap().unwrap();
        let state = read_state(&self.f);
        assert!(state.alerts.outbox.is_empty(), "{state:#?}");
    }
}

fn read_state(f: &Fixture) -> DaemonState {
    let text = std::fs::read_to_string(f.state_path()).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("state.json: {e}\n{text}"))
}

/// `kill -9` after the announcement was posted and before "delivered" was
/// saved, with the real bot against a real Synapse: the restarted daemon
/// sends it again with the same transaction ID and the room has it once.
///
/// How that holds (matrix-sdk 0.18, Synapse 1.163):
///
/// - `Bot::post_with_txn` uses `room.send(content).with_transaction_id(id)`;
///   matrix-sdk then `PUT`s `/rooms/{room}/send/{type}/{id}` with exactly
///   that ID (it makes one up only when none is given), encrypting first in
///   an encrypted room (a new ciphertext on every send, under the same ID).
/// - Synapse de-duplicates twice. In memory (`HttpTransactionCache`), keyed
///   on the request path and the sender's user *and device* (the access
///   token only for tokens without a device), for 30 to 60 minutes; and in
///   its database (`event_txn_id_device_id`: room, user, device, transaction
///   ID → event ID), checked before any new event is created whatever its
///   content or type, kept 24 hours and surviving a Synapse restart. Either
///   way the resend is answered with the first event's ID and nothing new
///   is posted.
/// - Scoped to the device (as the spec says since v1.7, MSC3970): the
///   restarted bot restores its session from `matrix.data_dir` — same device,
///   same access token, no new login — so its resend matches. A bot that
///   logged in anew (data directory lost) would post the message again, as
///   would a resend more than a day after the first send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_posting_and_saving_posts_once_with_the_real_bot() {
    let q = queued_announcement().await;

    // The send that happened just before the crash: the outbox entry's
    // message, with its transaction ID, by the bot of the crashed process.
    let crashed = Bot::start(q.settings())
        .await
        .unwrap_or_else(|e| panic!("starting the bot: {e}"));
    assert!(crashed.logged_in(), "the first start logs in");
    let device = crashed.device_id().unwrap();
    let posted = crashed
        .post_with_txn(&q.outgoing.txn_id, &q.message())
        .await
        .unwrap();
    // Everything of that process is gone; "delivered" was never saved.
    drop(crashed);
    assert_eq!(
        read_state(&q.f).alerts.outbox,
        vec![q.outgoing.clone()],
        "still queued"
    );
    // Synapse keeps the transaction in its database, for the bot's device.
    let rows =
        q.h.sqlite(&format!(
            "SELECT event_id, device_id FROM event_txn_id_device_id WHERE txn_id = '{}'",
            q.outgoing.txn_id
        ))
        .await
        .unwrap();
    assert_eq!(rows.trim(), format!("{posted}|{device}"), "{rows}");

    // The restart: same data directory, so the same device and token.
    let bot = Arc::new(
        Bot::start(q.settings())
            .await
            .unwrap_or_else(|e| panic!("restarting the bot: {e}")),
    );
    assert!(!bot.logged_in(), "the restart restores the session");
    assert_eq!(bot.device_id().unwrap(), device, "the same device");
    q.restart_with(bot.clone()).await;

    let m = q.bot_messages().await;
    assert_eq!(m.len(), 1, "posted more than once: {m:#?}");
    assert_eq!(m[0].0, posted.as_str());
    assert!(
        m[0].1.contains("NEW warning quota: @alice:warden.test"),
        "{m:#?}"
    );
    // Synapse answers a resend with the first event's ID.
    let again = bot
        .post_with_txn(&q.outgoing.txn_id, &q.message())
        .await
        .unwrap();
    assert_eq!(again, posted);
    assert_eq!(q.bot_messages().await.len(), 1);
}

/// The crash came before the send: the restarted daemon delivers the queued
/// announcement through the real bot, once, and a further restart from the
/// saved state posts nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_sending_delivers_once_with_the_real_bot() {
    let q = queued_announcement().await;
    assert!(q.bot_messages().await.is_empty());

    let bot = Arc::new(
        Bot::start(q.settings())
            .await
            .unwrap_or_else(|e| panic!("starting the bot: {e}")),
    );
    q.restart_with(bot.clone()).await;
    let m = q.bot_messages().await;
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(
        m[0].1.contains("NEW warning quota: @alice:warden.test"),
        "{m:#?}"
    );

    // Once more from the saved state: the alert is known and delivered.
    q.restart_with(bot).await;
    assert_eq!(q.bot_messages().await, m);
}
