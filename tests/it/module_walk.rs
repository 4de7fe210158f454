//! The walk through the warden's Synapse module (issue 29) against the
//! fake: keyset pages give exactly what the admin API walk gives (windows
//! included), a module that fails at any page hands the rest of the walk to
//! the admin API for that run, once and said once, and the source of a run
//! reaches the daemon's status, its metrics and its notices.

use std::time::Duration;

use synapse_warden::core::model::rooms::ModuleUnavailable;
use synapse_warden::core::model::usage::{TimeRange, UserMedia};
use synapse_warden::core::model::users_source::UsersSource;
use synapse_warden::synapse::client::ModuleSecret;
use synapse_warden::synapse::{
    AdminToken, ClientConfig, PageLimit, RetryPolicy, SynapseClient, SynapseError, WalkOptions,
    WalkSummary,
};
use test_support::fake::{
    self, Dataset, Db, FakeModule, FakeSynapse, GENERATED_NOW_MS, ModuleRooms, ModuleUsers,
};

use crate::daemon::{Fixture, QUOTA, count};

const SECRET: &str = "module-walk-secret";
const USERS_PATH: &str = "/_synapse/client/synapse_warden/v1/users/media";

fn client(server: &FakeSynapse, secret: Option<&str>) -> SynapseClient {
    let mut config = ClientConfig::new(
        server.base_url().parse().unwrap(),
        AdminToken::new(fake::ADMIN_TOKEN),
    );
    config.retry = RetryPolicy::none();
    config.timeout = Duration::from_secs(60);
    let client = SynapseClient::new(config).unwrap();
    match secret {
        Some(s) => client.with_module_secret(ModuleSecret::new(s)),
        None => client,
    }
}

fn module(users: ModuleUsers) -> Option<FakeModule> {
    Some(FakeModule {
        secret: SECRET.into(),
        rooms: ModuleRooms::Failed("not asked".into()),
        users,
    })
}

async fn walk(
    client: &SynapseClient,
    page_size: u64,
    range: TimeRange,
) -> Result<(Vec<UserMedia>, WalkSummary), SynapseError> {
    let options = WalkOptions {
        range,
        page_size: PageLimit::new(page_size).unwrap(),
        chunk: 100,
    };
    crate::conformance::walk_summary(client, options).await
}

/// (path, query) of the requests to the module's users' path.
fn module_pages(server: &FakeSynapse) -> Vec<String> {
    server
        .request_log()
        .into_iter()
        .filter(|r| r.path == USERS_PATH)
        .map(|r| r.query)
        .collect()
}

/// Keyset pages give the admin API walk's users and numbers, in order,
/// each once, for all media and for a window, on both databases, whether
/// the module answers the arrays asked for or (older) objects; with the
/// module the admin API's statistics are not asked at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_pages_give_what_the_admin_api_gives() {
    for (db, users) in [
        (Db::Postgres, ModuleUsers::Serve),
        (Db::Sqlite, ModuleUsers::Serve),
        (Db::Postgres, ModuleUsers::Objects),
    ] {
        let server = FakeSynapse::start(Dataset::generate(2_345, 4, 29), db).await;
        server.set_module(module(users));
        let week = TimeRange::last(Duration::from_secs(7 * 86_400), GENERATED_NOW_MS);
        for range in [TimeRange::ALL, week] {
            server.clear_requests();
            let (api, api_summary) = walk(&client(&server, None), 500, range).await.unwrap();
            assert_eq!(api_summary.source, UsersSource::AdminApi);
            assert!(module_pages(&server).is_empty());
            server.clear_requests();
            let (through, summary) = walk(&client(&server, Some(SECRET)), 500, range)
                .await
                .unwrap();
            assert_eq!(through, api, "{db:?} {range:?}");
            assert_eq!(summary.source, UsersSource::Module);
            assert!(summary.is_complete());
            assert_eq!((summary.users, summary.repeats), (api.len() as u64, 0));
            assert!(
                server.requests().is_empty(),
                "the admin API was asked: {:?}",
                server.requests()
            );
            // Pages of 500 after one another; the window sent as from_ts.
            let pages = module_pages(&server);
            assert_eq!(pages.len(), api.len().div_ceil(500), "{pages:?}");
            assert!(
                pages[0].starts_with("limit=500&timeout_ms=30000&format=arrays"),
                "{pages:?}"
            );
            let after: String =
                url::form_urlencoded::byte_serialize(api[499].user_id.as_bytes()).collect();
            let second = format!("after={after}");
            assert!(pages[1].contains(&second), "{pages:?}");
            assert_eq!(
                pages[0].contains("from_ts="),
                range.from_ms.is_some(),
                "{pages:?}"
            );
        }
        // An exact multiple of the page: the last full page is followed by
        // one empty page, as the module's contract says.
        let total = walk(&client(&server, None), 500_000, TimeRange::ALL)
            .await
            .unwrap()
            .0
            .len() as u64;
        server.clear_requests();
        let (users, summary) = walk(&client(&server, Some(SECRET)), total, TimeRange::ALL)
            .await
            .unwrap();
        assert_eq!(users.len() as u64, total);
        assert_eq!(summary.pages, 2);
    }
}

/// A module that fails at any page (its database, its budget, an older
/// module, a wrong secret): the walk goes on through the admin API from
/// the last user the module gave, every user once, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_module_hands_the_rest_of_the_walk_to_the_admin_api() {
    let server = FakeSynapse::start(Dataset::generate(1_200, 3, 5), Db::Postgres).await;
    let (all, _) = walk(&client(&server, None), 500_000, TimeRange::ALL)
        .await
        .unwrap();
    // Pages of 300: the third (after the 600th user) fails.
    let middle = all[599].user_id.clone();
    let cases = [
        (
            ModuleUsers::FailFrom(middle.clone()),
            Some(SECRET),
            "failed",
            3,
        ),
        (
            ModuleUsers::TimedOutFrom(String::new()),
            Some(SECRET),
            "timed_out",
            1,
        ),
        (ModuleUsers::Older, Some(SECRET), "not_installed", 1),
        // The second page repeats the first: not counted twice, not
        // followed forever.
        (ModuleUsers::Stuck, Some(SECRET), "failed", 2),
        // The disorder at the end of the first page's last chunk: the users
        // of that chunk before it are not lost (the admin API goes on after
        // the last user passed on, not the last one read).
        (ModuleUsers::Unordered, Some(SECRET), "failed", 1),
        (ModuleUsers::Serve, Some("another secret"), "refused", 1),
    ];
    for (users, secret, reason, asked) in cases {
        server.set_module(module(users.clone()));
        server.clear_requests();
        let (got, summary) = walk(&client(&server, secret), 300, TimeRange::ALL)
            .await
            .unwrap();
        assert_eq!(got, all, "{users:?}");
        let UsersSource::Fallback(why) = &summary.source else {
            panic!("{users:?}: {:?}", summary.source);
        };
        let tag = serde_json::to_value(why).unwrap();
        let tag = tag
            .as_str()
            .map(str::to_owned)
            .or_else(|| tag.as_object().and_then(|o| o.keys().next().cloned()))
            .unwrap();
        assert_eq!(tag, reason, "{why:?}");
        assert!(summary.is_complete());
        assert_eq!(module_pages(&server).len(), asked, "{users:?}");
        assert!(!server.requests().is_empty(), "the admin API read the rest");
        if let ModuleUsers::FailFrom(_) = users {
            assert!(
                matches!(why, ModuleUnavailable::Failed(m) if m.contains("database is locked")),
                "{why:?}"
            );
            // The module's 600 users are not passed on twice: the admin
            // API's pages repeat them (and one user of overlap on each of
            // its 3 later pages).
            assert_eq!(summary.repeats, 600 + 3);
            assert_eq!(summary.users as usize, all.len());
        }
    }
    // No module loaded at all: Synapse's own 404.
    server.set_module(None);
    let (got, summary) = walk(&client(&server, Some(SECRET)), 300, TimeRange::ALL)
        .await
        .unwrap();
    assert_eq!(got, all);
    assert_eq!(
        summary.source,
        UsersSource::Fallback(ModuleUnavailable::NotInstalled)
    );
}

/// The daemon: a run through the module says so in its status and
/// metrics; a module failing on every run is said once in the admin room,
/// and its return once; alerts are the same whichever source a run read.
/// With two walks (all media and a window), a run asks the module once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_says_its_source_and_a_fallback_once() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let t = now - 3_600_000;
    let dataset = Dataset::builder()
        .user("@alice:test", Some("Alice"), &[(t, Some(5 * 1024))])
        .user("@bob:test", None, &[(t, Some(1024))]);
    let fake = FakeSynapse::start(dataset, Db::Postgres).await;
    fake.set_module(module(ModuleUsers::Serve));
    let mut f = Fixture::new();
    f.module_secret = Some(SECRET.into());
    let rules = format!(
        "{QUOTA}    - name: weekly\n      window: 7d\n      severity: warning\n      max_media_length: 1 MiB\n"
    );
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), &rules);
    let mut daemon = f.daemon(config);
    let shared = f.shared.lock().unwrap().clone().unwrap();
    let gauge = |source: &str| {
        let text = f.metrics.encode();
        let line = format!("synapse_warden_users_source{{source=\"{source}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {line} in\n{text}"))
    };

    daemon.run_once().await.unwrap().unwrap();
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert_eq!(module_pages(&fake).len(), 2, "two walks, two pages");
    let last = shared.status.read().await.last_run.clone().unwrap();
    assert_eq!(last.source, Some(UsersSource::Module));
    assert_eq!(gauge("module"), "1");
    assert_eq!(gauge("fallback"), "0");
    let m = f.room.plain();
    assert_eq!(count(&m, "NEW warning quota: @alice"), 1, "{m:#?}");

    // The module fails: three runs fall back, said once; each run asks the
    // module once (the window's walk goes straight to the admin API).
    fake.set_module(module(ModuleUsers::FailFrom(String::new())));
    for _ in 0..3 {
        fake.clear_requests();
        daemon.run_once().await.unwrap().unwrap();
        assert_eq!(module_pages(&fake).len(), 1);
        assert_eq!(fake.requests().len(), 2, "both walks through the admin API");
    }
    let m = f.room.plain();
    assert_eq!(
        count(
            &m,
            "the warden's Synapse module did not give the users' media totals"
        ),
        1,
        "{m:#?}"
    );
    assert!(m.iter().any(|l| l.contains("database is locked")), "{m:#?}");
    assert_eq!(count(&m, "NEW"), 1, "no alert repeated or resolved: {m:#?}");
    assert_eq!(count(&m, "RESOLVED"), 0, "{m:#?}");
    let last = shared.status.read().await.last_run.clone().unwrap();
    assert!(
        matches!(
            last.source,
            Some(UsersSource::Fallback(ModuleUnavailable::Failed(_)))
        ),
        "{last:?}"
    );
    assert_eq!(gauge("fallback"), "1");
    assert_eq!(gauge("module"), "0");

    // The module answers again: said once.
    fake.set_module(module(ModuleUsers::Serve));
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(
        count(&m, "gives the users' media totals again"),
        1,
        "{m:#?}"
    );
    assert_eq!(gauge("module"), "1");
    assert_eq!(count(&m, "NEW"), 1, "{m:#?}");
}
