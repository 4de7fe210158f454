//! Who may do what through the bot's commands, against a stand-in for the
//! daemon that records what it is asked: a silence of every user or every
//! room needs `matrix.action_power_level`, a narrow one the power level to
//! command.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use synapse_warden::app::answer::answer;
use synapse_warden::app::context::{DaemonHandle, StatsContext};
use synapse_warden::core::alerting::silences::{Silence, Silences};
use synapse_warden::core::commands::SilenceRequest;
use synapse_warden::core::engine::snapshot::Snapshot;
use synapse_warden::core::model::violation::Violation;
use synapse_warden::core::policy::{self, Config};
use synapse_warden::core::text::replies::StatusView;
use synapse_warden::daemon::shared::PendingCheck;
use test_support::policy::{Policy, SecretAt};

use crate::actions::{client, cmd, room};

/// The daemon as the commands see it; records the silences asked for.
pub(crate) struct Stub {
    pub config: Arc<Config>,
    pub silenced: Mutex<Vec<(SilenceRequest, String)>>,
}

#[async_trait]
impl DaemonHandle for Stub {
    async fn snapshot(&self) -> Option<Arc<Snapshot>> {
        None
    }
    async fn status(&self) -> StatusView {
        unimplemented!("not asked in these tests")
    }
    async fn config(&self) -> Arc<Config> {
        self.config.clone()
    }
    async fn run_check(&self) -> Result<PendingCheck, String> {
        Err("no runs here".into())
    }
    async fn reload(&self) -> Result<String, String> {
        Err("no reloads here".into())
    }
    async fn silence(
        &self,
        request: SilenceRequest,
        author: &str,
    ) -> Result<(Silence, usize), String> {
        self.silenced
            .lock()
            .unwrap()
            .push((request.clone(), author.to_owned()));
        let mut silences = Silences::default();
        let s = silences
            .add(
                request.matcher,
                author,
                &request.reason,
                request.duration,
                request.duration,
                0,
            )
            .map_err(|e| e.to_string())?
            .clone();
        Ok((s, 0))
    }
    async fn unsilence(&self, id: u64, _by: &str) -> Result<(Silence, usize), String> {
        Err(format!("there is no silence {id}"))
    }
    async fn silences(&self) -> Silences {
        Silences::default()
    }
    async fn acknowledge(
        &self,
        _event_id: &str,
        _by: &str,
    ) -> Option<Result<Vec<Violation>, String>> {
        None
    }
}

/// A context whose daemon is a [`Stub`], with the policy's power levels
/// (command 50, action 100: the defaults).
pub(crate) fn with_stub() -> (StatsContext, Arc<Stub>) {
    let yaml = Policy::new("http://127.0.0.1:9", SecretAt::Env("UNUSED_TOKEN".into()))
        .rules("user_media:\n  - name: media-quota\n    max_media_length: 1 GiB\n")
        .yaml();
    let config = policy::parse("policies.yaml", &yaml).unwrap_or_else(|e| panic!("{}", e.report()));
    let stub = Arc::new(Stub {
        config: Arc::new(config),
        silenced: Mutex::new(Vec::new()),
    });
    let mut ctx = StatsContext::new(client("http://127.0.0.1:9", "unused"), "!stats");
    ctx.daemon = Some(stub.clone());
    (ctx, stub)
}

#[tokio::test]
async fn a_silence_of_everyone_needs_the_power_level_to_act() {
    let (ctx, stub) = with_stub();
    for words in [
        "silence * * 1d",
        "silence * ** 1d",
        "silence * @* 1d",
        "silence * *:* 1d",
        "silence media-quota @*:* 1d",
        "silence * !* 1d",
    ] {
        let reply = answer(&cmd(words), &ctx, &room("@mod:test", 50), 0).await;
        let text = reply.message.plain();
        assert!(!reply.ok, "{words}: {text}");
        assert!(
            text.contains("every user or every room")
                && text.contains("100")
                && text.contains("matrix.action_power_level"),
            "{words}: {text}"
        );
    }
    assert!(stub.silenced.lock().unwrap().is_empty(), "nothing silenced");

    // At the level to act, the same silence is set.
    let reply = answer(&cmd("silence * * 1d"), &ctx, &room("@admin:test", 100), 0).await;
    assert!(reply.ok, "{}", reply.message.plain());
    // A narrow one keeps the level to command.
    for words in [
        "silence media-quota @bob:test 1d",
        "silence * @*:old.example.org 1d",
        "silence * !abc:test 1d",
    ] {
        let reply = answer(&cmd(words), &ctx, &room("@mod:test", 50), 0).await;
        assert!(reply.ok, "{words}: {}", reply.message.plain());
    }
    let set: Vec<(String, String)> = stub
        .silenced
        .lock()
        .unwrap()
        .iter()
        .map(|(r, by)| (r.matcher.subject.to_string(), by.clone()))
        .collect();
    assert_eq!(
        set,
        [
            ("*".to_owned(), "@admin:test".to_owned()),
            ("@bob:test".to_owned(), "@mod:test".to_owned()),
            ("@*:old.example.org".to_owned(), "@mod:test".to_owned()),
            ("!abc:test".to_owned(), "@mod:test".to_owned()),
        ]
    );
}
