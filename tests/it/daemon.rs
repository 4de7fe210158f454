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

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use synapse_warden::core::announce::Message;
use synapse_warden::core::policy::{self, Config};
use synapse_warden::daemon::http::Readiness;
use synapse_warden::daemon::metrics::Metrics;
use synapse_warden::daemon::service::{Daemon, Notifier, NotifyError};
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};

use crate::support::synapse::{Backend, SynapseHarness, TestUser};

/// The room, as far as the daemon can tell: messages by transaction ID.
#[derive(Default)]
pub struct Room {
    pub messages: Mutex<Vec<(String, Message)>>,
    pub down: Mutex<bool>,
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
    async fn send(&self, txn_id: &str, message: &Message) -> Result<(), NotifyError> {
        if *self.down.lock().unwrap() {
            return Err(NotifyError("the homeserver is unreachable".into()));
        }
        let mut messages = self.messages.lock().unwrap();
        if !messages.iter().any(|(t, _)| t == txn_id) {
            messages.push((txn_id.to_owned(), message.clone()));
        }
        Ok(())
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub policy: PathBuf,
    pub room: Arc<Room>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            policy: PathBuf::new(),
            room: Arc::new(Room::default()),
        }
    }

    pub fn write_policy(&mut self, url: &str, token: &str, rules: &str) -> Config {
        let text = self.write_policy_text(url, token, rules);
        policy::parse("policies.yaml", &text).unwrap_or_else(|e| panic!("{}", e.report()))
    }

    /// Writes the policy file without checking it (for bad reloads).
    pub fn write_policy_text(&mut self, url: &str, token: &str, rules: &str) -> String {
        std::fs::write(self.dir.path().join("token"), token).unwrap();
        let text = format!(
            "synapse:\n  url: {url}\n  token: {{file: {}}}\n  timeout: 5s\nschedule:\n  every: 1h\nalerts:\n  repeat_after: 2s\n  escalate_on_growth: 50%\nrules:\n{rules}",
            self.dir.path().join("token").display()
        );
        self.policy = self.dir.path().join("policies.yaml");
        std::fs::write(&self.policy, &text).unwrap();
        text
    }

    pub fn daemon(&self, config: Config) -> Daemon {
        let token_file = self.dir.path().join("token");
        let make_client = Box::new(move |config: &Config| {
            let token = std::fs::read_to_string(&token_file).map_err(|e| e.to_string())?;
            let mut c = ClientConfig::new(config.synapse.url.clone(), AdminToken::new(token));
            c.retry = RetryPolicy::none();
            c.timeout = config.synapse.timeout;
            SynapseClient::new(c).map_err(|e| e.to_string())
        });
        let (daemon, _shared) = Daemon::new(
            config,
            self.policy.clone(),
            make_client,
            self.room.clone(),
            self.dir.path().join("state.json"),
            Arc::new(Metrics::new()),
            Arc::new(Readiness::default()),
        )
        .unwrap();
        daemon
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }
}

const QUOTA: &str = "  user_media:\n    - name: quota\n      description: Users may keep 4 KiB.\n      severity: warning\n      max_media_length: 4 KiB\n";

async fn seed(h: &SynapseHarness) -> (TestUser, TestUser) {
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bob = h.register("bob", "bob-password", false).await.unwrap();
    h.upload_media(&bob, 1024).await.unwrap();
    (admin, alice)
}

fn count(messages: &[String], needle: &str) -> usize {
    messages.iter().filter(|m| m.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_new_quiet_reminder_escalation_resolution_and_restart() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let (admin, alice) = seed(&h).await;
    let mut f = Fixture::new();
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, QUOTA);

    let mut daemon = f.daemon(config.clone());
    daemon.tick().await.unwrap().unwrap();
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
    daemon.tick().await.unwrap().unwrap();
    assert_eq!(f.room.plain().len(), 1);

    // A restart from the same state does not repeat it.
    drop(daemon);
    let mut daemon = f.daemon(config.clone());
    daemon.tick().await.unwrap().unwrap();
    assert_eq!(f.room.plain().len(), 1, "{:#?}", f.room.plain());

    // After repeat_after: a reminder.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    daemon.tick().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(
        m[1].contains("STILL OPEN warning quota: @alice"),
        "{}",
        m[1]
    );

    // Usage grows by more than half: escalated at once.
    h.upload_media(&alice, 4 * 1024).await.unwrap();
    daemon.tick().await.unwrap().unwrap();
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
    daemon.tick().await.unwrap().unwrap();
    let m = f.room.plain();
    assert!(m[3].contains("reloaded"), "{m:#?}");
    assert!(
        m[4].contains("RESOLVED") && m[4].contains("@alice"),
        "{m:#?}"
    );
    daemon.tick().await.unwrap().unwrap();
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
    daemon.tick().await.unwrap().unwrap();
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
    daemon.tick().await.unwrap().unwrap();
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
    assert!(daemon.tick().await.unwrap().is_err());
    assert!(daemon.tick().await.unwrap().is_err());
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
    daemon.tick().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(count(&m, "Synapse answers again"), 1, "{m:#?}");
    assert_eq!(count(&m, "NEW warning quota"), 1, "{m:#?}");
    daemon.tick().await.unwrap().unwrap();
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
    daemon.tick().await.unwrap().unwrap();
    daemon.tick().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(
        count(&m, "room rules are disabled: this Synapse uses SQLite"),
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
    assert!(daemon.tick().await.unwrap().is_err());
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
