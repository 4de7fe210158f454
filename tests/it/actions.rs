//! Clean-up actions: a conformance suite of the media admin endpoints
//! (fake, real SQLite, real PostgreSQL), and end to end on real Synapse —
//! a user's media of several ages and sizes, the preview, wrong, expired
//! and unauthorised confirmations, the confirmed purge (downloads 404, the
//! others 200, the next walk lower), quarantine, the remote media cache,
//! and bad input (unknown and remote users, nothing matching, a non-admin
//! token, a sender without the action level) for each command.
//!
//! The clock is an argument of [`answer`]: an expired code is a
//! confirmation at `now + 5 min`, never a sleep.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use synapse_warden::app::answer::{answer, answer_words, find_user};
use synapse_warden::app::context::{Origin, StatsContext};
use synapse_warden::core::commands::{Command, parse_words};
use synapse_warden::core::policy;
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient, SynapseError};

use test_support::fake::{self, Dataset, FakeSynapse};
use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

const DAY: u64 = 86_400_000;

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub(crate) fn client(base_url: &str, token: &str) -> SynapseClient {
    let mut config = ClientConfig::new(base_url.parse().unwrap(), AdminToken::new(token));
    config.retry = RetryPolicy::none();
    SynapseClient::new(config).unwrap()
}

async fn raw(method: reqwest::Method, url: &str, token: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method.clone(), url)
        .bearer_auth(token);
    if method == reqwest::Method::POST {
        request = request.json(&serde_json::json!({}));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (status, json)
}

fn err(status: u16, errcode: &str, message: &str) -> (u16, Value) {
    (
        status,
        serde_json::json!({"errcode": errcode, "error": message}),
    )
}

/// A server whose `victim` has `media` (ID, bytes), sorted by ID.
struct MediaTarget {
    label: String,
    base_url: String,
    admin_token: String,
    user_token: String,
    server_name: String,
    victim: String,
    media: Vec<(String, u64)>,
}

impl MediaTarget {
    fn url(&self, path: &str) -> String {
        format!("{}/_synapse/admin/v1/{path}", self.base_url)
    }
}

/// Every check of the media endpoints; panics with all failures.
async fn run_media_suite(t: &MediaTarget) {
    let mut failures: Vec<String> = Vec::new();
    let mut eq = |what: &str, got: &dyn std::fmt::Debug, want: &dyn std::fmt::Debug| {
        let (g, w) = (format!("{got:?}"), format!("{want:?}"));
        if g != w {
            failures.push(format!("{what}:\n    got  {g}\n    want {w}"));
        }
    };
    let victim = t.victim.replace('@', "%40").replace(':', "%3A");
    let n = t.media.len();

    // One page, ordered by media ID, with offset paging.
    let (status, body) = raw(
        reqwest::Method::GET,
        &t.url(&format!(
            "users/{victim}/media?order_by=media_id&dir=f&limit=2"
        )),
        &t.admin_token,
    )
    .await;
    eq("list status", &status, &200);
    eq("list total", &body["total"], &serde_json::json!(n));
    eq(
        "list next_token",
        &body["next_token"],
        &serde_json::json!(2),
    );
    let ids: Vec<&str> = body["media"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["media_id"].as_str()).collect())
        .unwrap_or_default();
    let want: Vec<&str> = t.media.iter().take(2).map(|(id, _)| id.as_str()).collect();
    eq("first page IDs", &ids, &want);
    let mut keys: Vec<String> = body["media"][0]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    eq(
        "item keys",
        &keys,
        &[
            "authenticated",
            "created_ts",
            "last_access_ts",
            "media_id",
            "media_length",
            "media_type",
            "quarantined_by",
            "safe_from_quarantine",
            "sha256",
            "upload_name",
            "url_cache",
            "user_id",
        ],
    );
    let (_, last) = raw(
        reqwest::Method::GET,
        &t.url(&format!(
            "users/{victim}/media?order_by=media_id&dir=f&limit=2&from={}",
            n - 1
        )),
        &t.admin_token,
    )
    .await;
    eq(
        "last page has no next_token",
        &last.get("next_token"),
        &None::<&Value>,
    );

    // The client reads every page.
    let c = client(&t.base_url, &t.admin_token);
    let listed = c.user_media(&t.victim).await;
    let got: Vec<(String, u64)> = listed
        .as_ref()
        .map(|m| {
            m.iter()
                .map(|m| (m.media_id.clone(), m.media_length))
                .collect()
        })
        .unwrap_or_default();
    eq("client reads every media", &got, &t.media);

    // Bad users.
    let remote = "%40someone%3Aelsewhere.example";
    eq(
        "remote user",
        &raw(
            reqwest::Method::GET,
            &t.url(&format!("users/{remote}/media")),
            &t.admin_token,
        )
        .await,
        &err(400, "M_UNKNOWN", "Can only look up local users"),
    );
    let unknown = format!("%40nobody-here%3A{}", t.server_name);
    eq(
        "unknown user",
        &raw(
            reqwest::Method::GET,
            &t.url(&format!("users/{unknown}/media")),
            &t.admin_token,
        )
        .await,
        &err(404, "M_NOT_FOUND", "Unknown user"),
    );
    // A non-admin token: 403 everywhere, nothing done.
    let (first, first_len) = t.media[0].clone();
    let forbidden = err(403, "M_FORBIDDEN", "You are not a server admin");
    for (method, path) in [
        (reqwest::Method::GET, format!("users/{victim}/media")),
        (
            reqwest::Method::DELETE,
            format!("media/{}/{first}", t.server_name),
        ),
        (
            reqwest::Method::POST,
            format!("media/quarantine/{}/{first}", t.server_name),
        ),
        (
            reqwest::Method::POST,
            format!("purge_media_cache?before_ts={}", now_ms()),
        ),
    ] {
        eq(
            &format!("non-admin {method} {path}"),
            &raw(method.clone(), &t.url(&path), &t.user_token).await,
            &forbidden,
        );
    }
    let user_client = client(&t.base_url, &t.user_token);
    eq(
        "the client names a 403",
        &matches!(
            user_client.delete_media(&t.server_name, &first).await,
            Err(SynapseError::NotAdmin { .. })
        ),
        &true,
    );

    // Deleting one media: done, then 404, and the statistics drop at once.
    let before = find_user(&c, &t.victim).await.unwrap().unwrap();
    eq(
        "delete",
        &raw(
            reqwest::Method::DELETE,
            &t.url(&format!("media/{}/{first}", t.server_name)),
            &t.admin_token,
        )
        .await,
        &(
            200,
            serde_json::json!({"deleted_media": [first], "total": 1}),
        ),
    );
    eq(
        "delete again",
        &raw(
            reqwest::Method::DELETE,
            &t.url(&format!("media/{}/{first}", t.server_name)),
            &t.admin_token,
        )
        .await,
        &err(404, "M_NOT_FOUND", "Unknown media"),
    );
    eq(
        "the client takes a second delete as already gone",
        &c.delete_media(&t.server_name, &first).await.ok(),
        &Some(false),
    );
    let after = find_user(&c, &t.victim).await.unwrap().unwrap();
    eq(
        "statistics drop by the media",
        &(after.media_count, after.media_length),
        &(
            before.media_count - 1,
            before.media_length.map(|l| l - first_len),
        ),
    );
    eq(
        "another server's media",
        &raw(
            reqwest::Method::DELETE,
            &t.url(&format!("media/elsewhere.example/{first}")),
            &t.admin_token,
        )
        .await,
        &err(400, "M_UNKNOWN", "Can only delete local media"),
    );

    // Quarantining one media: `{}`, then `quarantined_by` is set.
    let (second, _) = t.media[1].clone();
    eq(
        "quarantine",
        &raw(
            reqwest::Method::POST,
            &t.url(&format!("media/quarantine/{}/{second}", t.server_name)),
            &t.admin_token,
        )
        .await,
        &(200, serde_json::json!({})),
    );
    let listed = c.user_media(&t.victim).await.unwrap_or_default();
    eq(
        "quarantined media are still listed, marked",
        &listed
            .iter()
            .map(|m| (m.media_id.clone(), m.quarantined))
            .collect::<Vec<_>>(),
        &t.media[1..]
            .iter()
            .map(|(id, _)| (id.clone(), *id == second))
            .collect::<Vec<_>>(),
    );

    // The remote media cache.
    eq(
        "purge_media_cache without before_ts",
        &raw(
            reqwest::Method::POST,
            &t.url("purge_media_cache"),
            &t.admin_token,
        )
        .await,
        &err(
            400,
            "M_MISSING_PARAM",
            "Missing required integer query parameter before_ts",
        ),
    );
    eq(
        "purge_media_cache in seconds",
        &raw(
            reqwest::Method::POST,
            &t.url("purge_media_cache?before_ts=1700000000"),
            &t.admin_token,
        )
        .await
        .0,
        &400,
    );
    eq(
        "purge_media_cache",
        &c.purge_media_cache(now_ms()).await.ok(),
        &Some(0),
    );
    assert!(
        failures.is_empty(),
        "{}: {} media conformance checks failed:\n- {}",
        t.label,
        failures.len(),
        failures.join("\n- ")
    );
}

/// Media sizes of the scenario, by age in days.
const SCENARIO: &[(u64, usize)] = &[
    (200, 40_000), // old and large
    (120, 3_000),  // old and small
    (100, 25_000), // old and large
    (10, 50_000),  // recent and large
    (0, 2_000),    // new and small
];

pub(crate) async fn start(backend: Backend) -> SynapseHarness {
    SynapseHarness::start(backend)
        .await
        .unwrap_or_else(|e| panic!("starting Synapse on {backend}: {e:#}"))
}

/// Registers an admin, a plain user and a victim whose media are uploaded
/// and then dated `SCENARIO`'s ages ago; the media IDs in scenario order.
async fn seed(h: &SynapseHarness) -> (TestUser, TestUser, TestUser, Vec<String>) {
    let admin = h
        .register("warden-admin", "admin-pass", true)
        .await
        .unwrap();
    let plain = h.register("plain", "plain-pass", false).await.unwrap();
    let victim = h.register("victim", "victim-pass", false).await.unwrap();
    let now = now_ms();
    let mut ids = Vec::new();
    for &(age, bytes) in SCENARIO {
        let mxc = h.upload_media(&victim, bytes).await.unwrap();
        let id = mxc.rsplit('/').next().unwrap().to_owned();
        h.sql(&format!(
            "UPDATE local_media_repository SET created_ts = {} WHERE media_id = '{id}'",
            now - age * DAY
        ))
        .await
        .unwrap();
        ids.push(id);
    }
    (admin, plain, victim, ids)
}

pub(crate) async fn download(h: &SynapseHarness, user: &TestUser, media_id: &str) -> u16 {
    let url = format!(
        "{}/_matrix/client/v1/media/download/{}/{media_id}",
        h.base_url().as_str().trim_end_matches('/'),
        h.server_name()
    );
    h.http()
        .get(url)
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) fn context(base_url: &str, token: &str, audit: &Path, enabled: bool) -> StatsContext {
    let yaml = Policy::new(base_url, SecretAt::Env("UNUSED_TOKEN".into()))
        .rules("user_media:\n  - name: q\n    max_media_length: 1 GiB\n")
        .set("actions.enabled", enabled)
        .set("actions.confirm_within", "5m")
        .set("actions.audit_log", audit)
        .yaml();
    let config = policy::parse("policies.yaml", &yaml).unwrap_or_else(|e| panic!("{}", e.report()));
    let mut ctx = StatsContext::new(client(base_url, token), "!stats");
    ctx.config = Some(std::sync::Arc::new(config));
    ctx
}

/// The admin room the test commands come from.
pub const ADMIN_ROOM: &str = "!admin-room:test";

pub fn room(sender: &str, level: i64) -> Origin {
    Origin::Matrix {
        device_id: "DEVICE".into(),
        sender: sender.into(),
        level: Some(level),
        progress: None,
        room_id: Some(ADMIN_ROOM.into()),
    }
}

pub(crate) fn cmd(words: &str) -> Command {
    parse_words(&words.split_whitespace().collect::<Vec<_>>()).unwrap()
}

/// The code in a preview's text: the word after `confirm`.
pub(crate) fn code_in(text: &str) -> String {
    code_in_opt(text).unwrap_or_else(|| panic!("no code in {text:?}"))
}

pub(crate) fn code_in_opt(text: &str) -> Option<String> {
    text.split("confirm ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// Every user's (media count, bytes), by a full walk as a run does it.
async fn walk_all(
    synapse: &SynapseClient,
) -> std::collections::HashMap<String, (u64, Option<u64>)> {
    use futures::TryStreamExt;
    use synapse_warden::synapse::walk::{WalkChunk, WalkOptions};
    let mut walk = synapse.walk(WalkOptions::default());
    let mut users = std::collections::HashMap::new();
    while let Some(item) = walk.try_next().await.unwrap() {
        match item {
            WalkChunk::Users(chunk) => {
                for u in chunk {
                    users.insert(u.user_id, (u.media_count, u.media_length));
                }
            }
            WalkChunk::Done(summary) => {
                assert!(summary.cut_short.is_none(), "{summary:?}");
                return users;
            }
        }
    }
    panic!("the walk ended without its summary");
}

async fn purge_end_to_end(backend: Backend) {
    let h = start(backend).await;
    let (admin, plain, victim, ids) = seed(&h).await;
    let base = h.base_url().as_str().trim_end_matches('/').to_owned();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let ctx = context(&base, &admin.access_token, &audit, true);
    let synapse = client(&base, &admin.access_token);
    let before = find_user(&synapse, &victim.user_id).await.unwrap().unwrap();
    let total: u64 = SCENARIO.iter().map(|&(_, b)| b as u64).sum();
    assert_eq!(before.media_length, Some(total));
    let boss = room("@boss:hs", 100);
    let now = now_ms();

    // The listing: oldest first, with totals.
    let listing = answer(
        &cmd(&format!("media {} oldest", victim.user_id)),
        &ctx,
        &boss,
        now,
    )
    .await;
    let text = listing.message.plain();
    assert!(listing.ok, "{text}");
    assert!(text.contains("5 media"), "{text}");
    let order: Vec<usize> = ids
        .iter()
        .map(|id| text.find(id.as_str()).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {text}"
    );

    // The preview: older than 90 days and larger than 10 kB: exactly two.
    let words = format!("purge {} older-than 90d larger-than 10kB", victim.user_id);
    let preview = answer(&cmd(&words), &ctx, &boss, now).await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    assert!(text.contains("2 media, 63.5 KiB"), "{text}");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            text.contains(id.as_str()),
            i == 0 || i == 2,
            "{id} in {text}"
        );
    }
    let code = code_in(&text);
    // Nothing is deleted by a preview.
    for id in &ids {
        assert_eq!(download(&h, &plain, id).await, 200);
    }

    // A wrong code, an expired one, a sender without the level: nothing.
    let wrong = answer(&cmd("confirm ZZZZZZ"), &ctx, &boss, now + 1).await;
    assert!(!wrong.ok);
    assert!(wrong.message.plain().contains("No preview waits"));
    let weak = answer(
        &cmd(&format!("confirm {code}")),
        &ctx,
        &room("@mod:hs", 50),
        now + 2,
    )
    .await;
    assert!(!weak.ok);
    assert!(
        weak.message.plain().contains("power level 100"),
        "{}",
        weak.message.plain()
    );
    let late_preview = answer(&cmd(&words), &ctx, &boss, now).await;
    let late_code = code_in(&late_preview.message.plain());
    let expired = answer(
        &cmd(&format!("confirm {late_code}")),
        &ctx,
        &boss,
        now + 5 * 60_000,
    )
    .await;
    assert!(!expired.ok);
    assert!(expired.message.plain().contains("expired"));
    for id in &ids {
        assert_eq!(download(&h, &plain, id).await, 200, "{id} after refusals");
    }

    // A new upload after the preview is never deleted by it.
    let later = h.upload_media(&victim, 60_000).await.unwrap();
    let later_id = later.rsplit('/').next().unwrap().to_owned();
    h.sql(&format!(
        "UPDATE local_media_repository SET created_ts = {} WHERE media_id = '{later_id}'",
        now - 300 * DAY
    ))
    .await
    .unwrap();

    // Confirming deletes exactly the previewed media.
    let done = answer(
        &cmd(&format!("confirm {code}")),
        &ctx,
        &room("@other-admin:hs", 100),
        now + 3,
    )
    .await;
    let text = done.message.plain();
    assert!(done.ok, "{text}");
    assert!(text.contains("deleted 2 media, 63.5 KiB"), "{text}");
    assert!(text.contains("confirmed by @other-admin:hs"), "{text}");
    for (i, id) in ids.iter().enumerate() {
        let want = if i == 0 || i == 2 { 404 } else { 200 };
        assert_eq!(download(&h, &plain, id).await, want, "{id}");
    }
    assert_eq!(
        download(&h, &plain, &later_id).await,
        200,
        "not in the preview"
    );
    // The code is used up.
    let again = answer(&cmd(&format!("confirm {code}")), &ctx, &boss, now + 4).await;
    assert!(!again.ok);

    // The next walk shows the lower usage.
    let after = find_user(&synapse, &victim.user_id).await.unwrap().unwrap();
    assert_eq!(after.media_length, Some(total + 60_000 - 65_000));
    assert_eq!(after.media_count, 4);
    let walked = walk_all(&synapse).await;
    assert_eq!(
        walked.get(&victim.user_id),
        Some(&(4, Some(total + 60_000 - 65_000))),
        "{walked:?}"
    );

    // The audit log holds the previews, the refusals, the confirmation and
    // the outcome, in order.
    let log = std::fs::read_to_string(&audit).unwrap();
    let events: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        events,
        [
            "preview",
            "refused",
            "refused",
            "preview",
            "refused",
            "confirmed",
            "done",
            "refused"
        ],
        "{log}"
    );
    assert!(!log.contains(&admin.access_token));

    // Quarantine: the remaining media become unavailable.
    let q = answer(
        &cmd(&format!("quarantine {}", victim.user_id)),
        &ctx,
        &boss,
        now,
    )
    .await;
    let text = q.message.plain();
    assert!(text.contains("4 media"), "{text}");
    let code = code_in(&text);
    let done = answer(&cmd(&format!("confirm {code}")), &ctx, &boss, now + 1).await;
    assert!(done.ok, "{}", done.message.plain());
    assert!(done.message.plain().contains("quarantined 4 media"));
    for id in [&ids[1], &ids[3], &ids[4], &later_id] {
        assert_eq!(download(&h, &plain, id).await, 404, "{id} quarantined");
    }

    // Bad input: each a clear answer, nothing done.
    let nobody = answer(
        &cmd(&format!("purge @nobody:{}", h.server_name())),
        &ctx,
        &boss,
        now,
    )
    .await;
    assert!(
        nobody
            .message
            .plain()
            .contains("is not a user of this server"),
        "{}",
        nobody.message.plain()
    );
    let remote = answer(&cmd("purge @someone:elsewhere.example"), &ctx, &boss, now).await;
    assert!(
        remote.message.plain().contains("user of another server"),
        "{}",
        remote.message.plain()
    );
    let none = answer(
        &cmd(&format!("purge {} larger-than 1GB", victim.user_id)),
        &ctx,
        &boss,
        now,
    )
    .await;
    assert!(
        none.message.plain().contains("Nothing to do"),
        "{}",
        none.message.plain()
    );
    assert!(!none.message.plain().contains("confirm"));
    let weak = answer(
        &cmd(&format!("purge {}", victim.user_id)),
        &ctx,
        &room("@mod:hs", 50),
        now,
    )
    .await;
    assert!(weak.message.plain().contains("power level 100"));
    let as_user = context(&base, &plain.access_token, &audit, true);
    let refused = answer(
        &cmd(&format!("purge {}", victim.user_id)),
        &as_user,
        &boss,
        now,
    )
    .await;
    assert!(!refused.ok);
    assert!(
        refused.message.plain().contains("not a server admin"),
        "{}",
        refused.message.plain()
    );
    let as_user_media = answer(
        &cmd(&format!("media {}", victim.user_id)),
        &as_user,
        &boss,
        now,
    )
    .await;
    assert!(
        !as_user_media.ok && as_user_media.message.plain().contains("not a server admin"),
        "{}",
        as_user_media.message.plain()
    );
    // The other commands, the same bad input.
    for words in [
        format!("media @nobody:{}", h.server_name()),
        format!("quarantine @nobody:{}", h.server_name()),
    ] {
        let a = answer(&cmd(&words), &ctx, &boss, now).await;
        assert!(
            !a.ok && a.message.plain().contains("is not a user of this server"),
            "{words}: {}",
            a.message.plain()
        );
    }
    for words in [
        "media @someone:elsewhere.example",
        "quarantine @someone:elsewhere.example",
    ] {
        let a = answer(&cmd(words), &ctx, &boss, now).await;
        assert!(
            !a.ok && a.message.plain().contains("user of another server"),
            "{words}: {}",
            a.message.plain()
        );
    }
    let empty = answer(
        &cmd(&format!("quarantine {}", plain.user_id)),
        &ctx,
        &boss,
        now,
    )
    .await;
    assert!(
        empty.message.plain().contains("Nothing to do")
            && !empty.message.plain().contains("confirm"),
        "{}",
        empty.message.plain()
    );
    // The remote media cache: previewed, confirmed only with the level,
    // refused by Synapse for a non-admin token; local media untouched.
    let remote = answer(&cmd("purge-remote older-than 30d"), &ctx, &boss, now).await;
    assert!(remote.ok, "{}", remote.message.plain());
    let code = code_in(&remote.message.plain());
    let weak = answer(
        &cmd(&format!("confirm {code}")),
        &ctx,
        &room("@mod:hs", 50),
        now + 1,
    )
    .await;
    assert!(!weak.ok && weak.message.plain().contains("power level 100"));
    let done = answer(&cmd(&format!("confirm {code}")), &ctx, &boss, now + 2).await;
    assert!(
        done.ok && done.message.plain().contains("Synapse removed 0 media"),
        "{}",
        done.message.plain()
    );
    let remote = answer(&cmd("purge-remote older-than 30d"), &as_user, &boss, now).await;
    let refused = match code_in_opt(&remote.message.plain()) {
        Some(code) => answer(&cmd(&format!("confirm {code}")), &as_user, &boss, now + 1).await,
        None => remote,
    };
    assert!(
        !refused.ok && refused.message.plain().contains("not a server admin"),
        "{}",
        refused.message.plain()
    );
    let off = context(&base, &admin.access_token, &audit, false);
    let disabled = answer(&cmd(&format!("purge {}", victim.user_id)), &off, &boss, now).await;
    assert!(
        disabled.message.plain().contains("actions are off"),
        "{}",
        disabled.message.plain()
    );
    let still = find_user(&synapse, &victim.user_id).await.unwrap().unwrap();
    assert_eq!(still.media_count, 4, "nothing deleted by bad input");

    // The command line: a preview, then `--yes` carries out.
    let words: Vec<String> = ["purge", &victim.user_id, "larger-than", "40kB"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (doc, ok) = answer_words(&ctx, &words).await;
    assert!(ok && doc.plain().contains("--yes"), "{}", doc.plain());
    assert_eq!(
        find_user(&synapse, &victim.user_id)
            .await
            .unwrap()
            .unwrap()
            .media_count,
        4
    );
    let mut yes = words.clone();
    yes.push("--yes".into());
    let (doc, ok) = answer_words(&ctx, &yes).await;
    assert!(ok, "{}", doc.plain());
    assert!(doc.plain().contains("deleted 2 media"), "{}", doc.plain());
    let last = find_user(&synapse, &victim.user_id).await.unwrap().unwrap();
    assert_eq!(last.media_count, 2);
    let (doc, ok) = answer_words(&ctx, &["confirm".to_owned(), "ABCDEF".to_owned()]).await;
    assert!(!ok && doc.plain().contains("--yes"), "{}", doc.plain());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_quarantine_on_real_synapse_sqlite() {
    purge_end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_quarantine_on_real_synapse_postgres() {
    purge_end_to_end(Backend::Postgres).await;
}

async fn real_target(backend: Backend) -> (SynapseHarness, MediaTarget) {
    let h = start(backend).await;
    let (admin, plain, victim, _) = seed(&h).await;
    let synapse = client(h.base_url().as_str(), &admin.access_token);
    let mut media: Vec<(String, u64)> = synapse
        .user_media(&victim.user_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.media_id, m.media_length))
        .collect();
    media.sort();
    let target = MediaTarget {
        label: format!("real Synapse on {backend}"),
        base_url: h.base_url().as_str().trim_end_matches('/').to_owned(),
        admin_token: admin.access_token,
        user_token: plain.access_token,
        server_name: h.server_name().to_owned(),
        victim: victim.user_id,
        media,
    };
    (h, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_conformance_real_sqlite() {
    let (_h, target) = real_target(Backend::Sqlite).await;
    run_media_suite(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_conformance_real_postgres() {
    let (_h, target) = real_target(Backend::Postgres).await;
    run_media_suite(&target).await;
}

#[tokio::test]
async fn media_conformance_fake() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    let victim = "@victim:test";
    let mut media = Vec::new();
    for (i, &(age, bytes)) in SCENARIO.iter().enumerate() {
        let id = format!("media{i}");
        server.upload(
            victim,
            &id,
            fake::GENERATED_NOW_MS - age * DAY,
            bytes as u64,
        );
        media.push((id, bytes as u64));
    }
    let target = MediaTarget {
        label: "fake Synapse".into(),
        base_url: server.base_url(),
        admin_token: fake::ADMIN_TOKEN.into(),
        user_token: fake::USER_TOKEN.into(),
        server_name: "test".into(),
        victim: victim.into(),
        media,
    };
    run_media_suite(&target).await;
}

/// `media` is a clean-up command: with `actions.enabled` off, or from a
/// sender below `matrix.action_power_level`, it is refused with the reason
/// and Synapse is not asked; allowed, it lists the user's media.
#[tokio::test]
async fn media_needs_actions_enabled_and_the_action_power_level() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    server.upload("@victim:test", "m1", fake::GENERATED_NOW_MS - DAY, 1234);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let media = cmd("media @victim:test");
    let now = fake::GENERATED_NOW_MS;
    let asked = |server: &FakeSynapse| server.request_count();

    let off = context(&server.base_url(), fake::ADMIN_TOKEN, &audit, false);
    let reply = answer(&media, &off, &room("@boss:test", 100), now).await;
    assert!(!reply.ok, "{}", reply.message.plain());
    assert!(
        reply.message.plain().contains("actions.enabled"),
        "{}",
        reply.message.plain()
    );
    assert_eq!(asked(&server), 0, "{:?}", server.requests());

    let on = context(&server.base_url(), fake::ADMIN_TOKEN, &audit, true);
    let reply = answer(&media, &on, &room("@someone:test", 0), now).await;
    assert!(!reply.ok, "{}", reply.message.plain());
    assert!(
        reply.message.plain().contains("matrix.action_power_level"),
        "{}",
        reply.message.plain()
    );
    assert_eq!(asked(&server), 0, "{:?}", server.requests());

    let reply = answer(&media, &on, &room("@boss:test", 100), now).await;
    assert!(reply.ok, "{}", reply.message.plain());
    assert!(
        reply.message.plain().contains("m1"),
        "{}",
        reply.message.plain()
    );
}

/// On the fake: a long purge posts progress, media gone since the preview
/// count as done, only the previewed IDs are requested, and a remote purge
/// uses the cut-off of its preview however late it is confirmed.
#[tokio::test]
async fn long_purges_report_progress_and_remote_purges_keep_their_cut_off() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Postgres).await;
    let now = fake::GENERATED_NOW_MS;
    for i in 0..60u64 {
        server.upload(
            "@big:test",
            &format!("m{i:02}"),
            now - (i + 1) * DAY,
            1000 + i,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(
        &server.base_url(),
        fake::ADMIN_TOKEN,
        &dir.path().join("audit.log"),
        true,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let origin = Origin::Matrix {
        device_id: "D".into(),
        sender: "@boss:test".into(),
        level: Some(i64::MAX),
        progress: Some(tx),
        room_id: None,
    };
    let preview = answer(&cmd("purge @big:test older-than 10d"), &ctx, &origin, now).await;
    let text = preview.message.plain();
    assert!(text.contains("51 media"), "{text}");
    let code = code_in(&text);
    // One previewed media disappears before the confirmation; one new
    // upload matching the filter arrives.
    let (status, _) = raw(
        reqwest::Method::DELETE,
        &format!("{}/_synapse/admin/v1/media/test/m59", server.base_url()),
        fake::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(status, 200);
    server.upload("@big:test", "zz-new", now - 400 * DAY, 5000);
    server.clear_requests();
    let done = answer(&cmd(&format!("confirm {code}")), &ctx, &origin, now + 1000).await;
    let text = done.message.plain();
    assert!(done.ok, "{text}");
    assert!(text.contains("deleted 51 media"), "{text}");
    let mut progress = Vec::new();
    while let Ok(m) = rx.try_recv() {
        progress.push(m.plain);
    }
    assert_eq!(
        progress,
        [
            "Working: 25 of 51 media done…",
            "Working: 50 of 51 media done…"
        ]
    );
    let deletes: Vec<String> = server
        .request_log()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    // m09..m59 were previewed; m59 was already gone (requested, 404).
    let want: Vec<String> = (9..60).map(|i| format!("m{i:02}")).collect();
    let mut sorted = deletes.clone();
    sorted.sort();
    assert_eq!(sorted, want);
    assert!(
        !deletes.contains(&"zz-new".to_owned()),
        "never beyond the preview"
    );
    let left: Vec<String> = server.media().into_iter().map(|m| m.media_id).collect();
    let mut want_left: Vec<String> = (0..9).map(|i| format!("m{i:02}")).collect();
    want_left.push("zz-new".into());
    assert_eq!(left, want_left);

    // The remote cache: the cut-off is the preview's, not the confirmation's.
    let preview = answer(&cmd("purge-remote older-than 30d"), &ctx, &origin, now).await;
    let code = code_in(&preview.message.plain());
    server.clear_requests();
    let done = answer(
        &cmd(&format!("confirm {code}")),
        &ctx,
        &origin,
        now + 120_000,
    )
    .await;
    assert!(done.ok, "{}", done.message.plain());
    assert!(done.message.plain().contains("Synapse removed 0 media"));
    let queries: Vec<String> = server
        .request_log()
        .into_iter()
        .filter(|r| r.path.ends_with("/purge_media_cache"))
        .map(|r| r.query)
        .collect();
    assert_eq!(queries, [format!("before_ts={}", now - 30 * DAY)]);
}

/// The audit log is created `0600`, in a data directory created `0700`
/// when the command line is first to write there; text that is not a code
/// is refused as the command is read and written nowhere.
#[tokio::test]
async fn the_audit_log_is_private_and_non_codes_never_reach_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let audit = data.join("audit.log");
    let ctx = context("http://127.0.0.1:9", "unused", &audit, true);
    let boss = room("@boss:test", 100);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let preview = answer(&cmd("purge-remote older-than 30d"), &ctx, &boss, now).await;
    assert!(preview.ok, "{}", preview.message.plain());
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&audit), 0o600, "the audit log");
    let before = std::fs::read_to_string(&audit).unwrap();
    for bad in ["K7Q2X\u{202e}", "../../etc", "K7Q2XPQ", "\u{1b}[31mK7Q2X"] {
        match parse_words(&["confirm", bad]) {
            Err(e) => {
                let said = e.to_string();
                assert!(said.contains("not a confirmation code"), "{bad:?}: {said}");
                assert!(!said.contains(bad), "{bad:?} echoed: {said}");
            }
            // Today's main: the text reaches the confirmation, refused
            // there and written to the audit log.
            Ok(command) => {
                answer(&command, &ctx, &boss, now).await;
                panic!("{bad:?} read as {command:?}");
            }
        }
    }
    assert_eq!(std::fs::read_to_string(&audit).unwrap(), before);
}
