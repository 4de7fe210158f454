//! The client's full walk against the fake: large datasets, every fault the
//! fake can inject, servers that cap pages or whose token does not advance,
//! and users appearing or disappearing while the walk runs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use synapse_warden::core::model::UserMedia;
use synapse_warden::synapse::{
    AdminToken, ClientConfig, PageLimit, RetryPolicy, SynapseClient, SynapseError, WalkChunk,
    WalkOptions, WalkSummary,
};

use crate::support::fake::{self, Dataset, FakeSynapse, Fault};

fn client(server: &FakeSynapse, retry: RetryPolicy, timeout: Duration) -> SynapseClient {
    let mut config = ClientConfig::new(
        server.base_url().parse().unwrap(),
        AdminToken::new(fake::ADMIN_TOKEN),
    );
    config.retry = retry;
    config.timeout = timeout;
    SynapseClient::new(config).unwrap()
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

async fn walk(
    client: &SynapseClient,
    page_size: u64,
) -> Result<(Vec<UserMedia>, WalkSummary), SynapseError> {
    let mut walk = client.walk(WalkOptions {
        page_size: PageLimit::new(page_size).unwrap(),
        chunk: 500,
        ..WalkOptions::default()
    });
    let mut users = Vec::new();
    while let Some(item) = walk.try_next().await? {
        match item {
            WalkChunk::Users(chunk) => users.extend(chunk),
            WalkChunk::Done(summary) => return Ok((users, summary)),
        }
    }
    panic!("the walk ended without its summary");
}

fn as_map(users: &[UserMedia]) -> HashMap<String, (u64, Option<u64>)> {
    users
        .iter()
        .map(|u| (u.user_id.clone(), (u.media_count, u.media_length)))
        .collect()
}

fn assert_sorted_unique(users: &[UserMedia]) {
    assert!(
        users.windows(2).all(|w| w[0].user_id < w[1].user_id),
        "users repeated or out of order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_100k_users_in_one_page_by_default_and_in_pages() {
    let dataset = Dataset::generate(100_000, 10, 7);
    let expected = dataset.totals();
    let server = FakeSynapse::start(dataset, fake::Db::Postgres).await;
    let c = client(&server, RetryPolicy::none(), Duration::from_secs(120));
    let (users, summary) = walk(
        &c,
        u64::from(synapse_warden::synapse::walk::DEFAULT_PAGE_SIZE),
    )
    .await
    .unwrap();
    assert_eq!(summary.pages, 1);
    assert_eq!(users.len(), 100_000);
    assert_eq!(as_map(&users), expected);
    assert_sorted_unique(&users);
    let (users, summary) = walk(&c, 30_000).await.unwrap();
    assert_eq!(
        (summary.pages, summary.users, summary.total),
        (4, 100_000, 100_000)
    );
    assert_eq!(
        summary.repeats, 3,
        "one user of overlap per page after the first"
    );
    assert_eq!(as_map(&users), expected);
    // One request per page, each after the first starting one user early.
    let requests = server.requests();
    assert_eq!(requests.len(), 5, "{requests:?}");
    assert_eq!(requests[2], "limit=30001&from=29999");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_change_nothing() {
    let dataset = Dataset::generate(1_000, 3, 1);
    let expected = dataset.totals();
    let server = FakeSynapse::start(dataset, fake::Db::Sqlite).await;
    let c = client(&server, quick_retries(), Duration::from_millis(500));
    server.push_faults([
        Fault::Status500,
        Fault::BadGateway,
        Fault::RateLimited { retry_after_ms: 40 },
    ]);
    let (users, summary) = walk(&c, 300).await.unwrap();
    assert_eq!(as_map(&users), expected);
    assert_sorted_unique(&users);
    assert_eq!(summary.pages, 4);

    // A page cut off half-way, a connection closed without an answer, then
    // a slow answer past the timeout: the users already passed on are not
    // passed on again.
    server.push_faults([Fault::TruncatedBody]);
    let (users, _) = walk(&c, 300).await.unwrap();
    assert_eq!(as_map(&users), expected);
    assert_sorted_unique(&users);
    server.push_faults([Fault::DropConnection]);
    let (users, _) = walk(&c, 300).await.unwrap();
    assert_eq!(as_map(&users), expected);
    server.push_faults([Fault::Delay(Duration::from_secs(2))]);
    let (users, _) = walk(&c, 300).await.unwrap();
    assert_eq!(as_map(&users), expected);
}

#[tokio::test]
async fn rate_limits_are_honoured() {
    let server = FakeSynapse::start(Dataset::generate(10, 1, 1), fake::Db::Sqlite).await;
    let c = client(&server, quick_retries(), Duration::from_secs(5));
    server.push_faults([Fault::RateLimited {
        retry_after_ms: 300,
    }]);
    let started = Instant::now();
    let (users, _) = walk(&c, 100).await.unwrap();
    assert_eq!(users.len(), 10);
    // quick_retries() would wait at most 50 ms; Synapse asked for 300.
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "the retry did not wait for retry_after_ms"
    );
}

#[tokio::test]
async fn persistent_failures_end_the_walk_with_a_precise_error() {
    let mut server = FakeSynapse::start(Dataset::generate(10, 1, 1), fake::Db::Sqlite).await;
    let c = client(&server, quick_retries(), Duration::from_secs(5));

    server.push_faults(vec![Fault::Status500; 4]);
    let err = walk(&c, 100).await.unwrap_err();
    assert!(
        matches!(err, SynapseError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "GET /_synapse/admin/v1/statistics/users/media: Synapse failed (500 M_UNKNOWN: Internal server error)"
    );

    server.push_faults([Fault::MalformedJson]);
    let err = walk(&c, 100).await.unwrap_err();
    assert!(
        matches!(err, SynapseError::Malformed { status: 200, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("GET /_synapse/admin/v1/statistics/users/media: malformed answer from Synapse (HTTP 200)"), "{err}");

    let forbidden = {
        let mut config = ClientConfig::new(
            server.base_url().parse().unwrap(),
            AdminToken::new(fake::USER_TOKEN),
        );
        config.retry = quick_retries();
        SynapseClient::new(config).unwrap()
    };
    let err = walk(&forbidden, 100).await.unwrap_err();
    assert!(matches!(err, SynapseError::NotAdmin { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(fake::USER_TOKEN));

    server.stop().await;
    let err = walk(&c, 100).await.unwrap_err();
    assert!(matches!(err, SynapseError::Connect { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(fake::ADMIN_TOKEN));
    server.restart().await;
    assert_eq!(walk(&c, 100).await.unwrap().0.len(), 10);
}

#[tokio::test]
async fn capped_pages_and_stale_tokens() {
    let dataset = Dataset::generate(120, 1, 3);
    let expected = dataset.totals();
    let server = FakeSynapse::start(dataset, fake::Db::Postgres).await;
    let c = client(&server, RetryPolicy::none(), Duration::from_secs(5));
    // matrix-media-repo answers at most 50 users per page.
    server.set_page_cap(Some(50));
    let (users, summary) = walk(&c, 100_000).await.unwrap();
    assert_eq!(as_map(&users), expected);
    assert_sorted_unique(&users);
    assert!(summary.pages >= 3, "{summary:?}");
    server.set_page_cap(None);

    // A token that does not advance ends the walk instead of looping.
    server.push_faults([Fault::Delay(Duration::ZERO), Fault::StaleToken]);
    let (users, summary) = walk(&c, 40).await.unwrap();
    assert_eq!(summary.pages, 2, "{summary:?}");
    // The second page starts one user early and asks for one more.
    assert_eq!(users.len(), 40 + 40);
}

/// Walks five users (b d f h j) two per page; after the first page, `change`
/// alters the dataset. Returns the users the walk passed on.
async fn walk_while(change: impl FnOnce(&mut Dataset)) -> Vec<String> {
    let dataset = ["@b:test", "@d:test", "@f:test", "@h:test", "@j:test"]
        .iter()
        .fold(Dataset::new(), |d, id| d.user(id, None, &[(1, Some(1))]));
    let server = FakeSynapse::start(dataset, fake::Db::Postgres).await;
    let c = client(&server, RetryPolicy::none(), Duration::from_secs(5));
    // The second page is answered after a pause, long enough for the change
    // to land before it is computed.
    server.push_faults([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::from_millis(500)),
    ]);
    let mut stream = c.walk(WalkOptions {
        page_size: PageLimit::new(2).unwrap(),
        chunk: 1,
        ..WalkOptions::default()
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let WalkChunk::Users(u) = stream.try_next().await.unwrap().unwrap() {
            seen.extend(u.into_iter().map(|u| u.user_id));
        }
    }
    server.update(change);
    while let Some(item) = stream.try_next().await.unwrap() {
        if let WalkChunk::Users(u) = item {
            seen.extend(u.into_iter().map(|u| u.user_id));
        }
    }
    seen
}

#[tokio::test]
async fn a_user_appearing_before_the_cursor_repeats_no_one() {
    let seen = walk_while(|d| {
        d.users.push(fake::FakeUser {
            user_id: "@a:test".into(),
            displayname: None,
            media: vec![(1, Some(1))],
        })
    })
    .await;
    assert_eq!(
        seen,
        ["@b:test", "@d:test", "@f:test", "@h:test", "@j:test"]
    );
}

#[tokio::test]
async fn a_user_leaving_before_the_cursor_loses_no_one() {
    let seen = walk_while(|d| d.users.retain(|u| u.user_id != "@b:test")).await;
    assert_eq!(
        seen,
        ["@b:test", "@d:test", "@f:test", "@h:test", "@j:test"]
    );
}
