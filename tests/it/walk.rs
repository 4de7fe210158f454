//! The client's full walk against the fake: large datasets, every fault the
//! fake can inject, servers that cap pages or whose token does not advance,
//! and users appearing or disappearing while the walk runs.
//!
//! A walk knows whether it is complete: a token that stops advancing or an
//! empty page before `total` is walked once more from the start, and when it
//! happens again the summary says how and how far the walk got, never
//! "complete". Users appearing or disappearing during a walk stay within the
//! documented tolerance (1 % of `total`, at least one user).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use synapse_warden::core::model::coverage::{CutCause, CutShort};
use synapse_warden::core::model::usage::UserMedia;
use synapse_warden::synapse::{
    AdminToken, ClientConfig, PageLimit, RetryPolicy, SynapseClient, SynapseError, WalkChunk,
    WalkOptions, WalkSummary,
};

use test_support::fake::{self, Dataset, FakeSynapse, Fault};

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
    let options = WalkOptions {
        page_size: PageLimit::new(page_size).unwrap(),
        chunk: 500,
        ..WalkOptions::default()
    };
    crate::conformance::walk_summary(client, options).await
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
    // One request per page, each after the first starting one user early;
    // after the first page's total, the 70 000 left in three even pages of
    // 23 334 (plus a slack of 23 users and the one of overlap).
    let requests = server.requests();
    assert_eq!(requests.len(), 5, "{requests:?}");
    assert_eq!(requests[1], "limit=30000");
    assert_eq!(requests[2], "limit=23358&from=29999");
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

    // A token that does not advance once ends the attempt instead of
    // looping; the walk goes once more from the start, passes on only the
    // users it had not, and is complete.
    server.push_faults([Fault::Delay(Duration::ZERO), Fault::StaleToken]);
    let (users, summary) = walk(&c, 40).await.unwrap();
    assert_eq!(as_map(&users), expected);
    assert_sorted_unique(&users);
    assert!(summary.is_complete() && summary.retried, "{summary:?}");
    assert_eq!(summary.pages, 2 + 3, "{summary:?}");
    assert_eq!(summary.users, 120);
}

/// A walk of 120 users, 40 per page, whose token stops advancing at 80
/// every time: cut short after its retry, saying so, with the 80 users it
/// saw passed on once each.
#[tokio::test]
async fn a_token_stuck_at_80_of_120_is_a_walk_cut_short() {
    let dataset = Dataset::generate(120, 1, 3);
    let server = FakeSynapse::start(dataset.clone(), fake::Db::Postgres).await;
    let c = client(&server, RetryPolicy::none(), Duration::from_secs(5));
    server.faults().set_persistent(Some(Fault::StuckAt(80)));
    let (users, summary) = walk(&c, 40).await.unwrap();
    let cut = summary.cut_short.expect("the walk is not complete");
    assert_eq!(
        cut,
        CutShort {
            cause: CutCause::TokenStuck,
            seen: 80,
            total: 120
        }
    );
    assert_eq!(
        cut.to_string(),
        "Synapse's next_token stopped advancing at 80 of 120 users"
    );
    assert!(summary.retried && !summary.is_complete(), "{summary:?}");
    assert_eq!(users.len(), 80);
    assert_sorted_unique(&users);
    // The users passed on are the first 80, and the summary says which was
    // the last of them.
    let mut ids: Vec<String> = dataset.totals().into_keys().collect();
    ids.sort();
    assert_eq!(
        users.iter().map(|u| u.user_id.clone()).collect::<Vec<_>>(),
        ids[..80]
    );
    assert_eq!(summary.last_user.as_deref(), Some(ids[79].as_str()));
    // Two attempts of two pages each, nothing more.
    assert_eq!(server.requests().len(), 4, "{:?}", server.requests());
}

/// An empty page before `total` (a server ending the walk early), twice:
/// cut short. Once: the retry completes the walk.
#[tokio::test]
async fn an_empty_page_before_the_total_is_a_walk_cut_short() {
    let dataset = Dataset::generate(120, 1, 4);
    let expected = dataset.totals();
    let server = FakeSynapse::start(dataset, fake::Db::Sqlite).await;
    let c = client(&server, RetryPolicy::none(), Duration::from_secs(5));
    let pass = || Fault::Delay(Duration::ZERO);
    server.push_faults([
        pass(),
        pass(),
        Fault::EmptyPage,
        pass(),
        pass(),
        Fault::EmptyPage,
    ]);
    let (users, summary) = walk(&c, 40).await.unwrap();
    assert_eq!(
        summary.cut_short,
        Some(CutShort {
            cause: CutCause::EmptyPage,
            seen: 80,
            total: 120
        })
    );
    assert_eq!(users.len(), 80);
    assert_eq!(
        summary.cut_short.unwrap().to_string(),
        "Synapse answered an empty page at 80 of 120 users"
    );

    server.push_faults([Fault::EmptyPage]);
    let (users, summary) = walk(&c, 40).await.unwrap();
    assert!(summary.is_complete() && summary.retried, "{summary:?}");
    assert_eq!(as_map(&users), expected);
}

/// Walks five users (b d f h j) two per page; after the first page, `change`
/// alters the dataset. Returns the users the walk passed on and its summary.
async fn walk_while(change: impl FnOnce(&mut Dataset)) -> (Vec<String>, WalkSummary) {
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
        match item {
            WalkChunk::Users(u) => seen.extend(u.into_iter().map(|u| u.user_id)),
            WalkChunk::Done(summary) => return (seen, summary),
        }
    }
    panic!("the walk ended without its summary");
}

fn fake_user(id: &str) -> fake::FakeUser {
    fake::FakeUser {
        user_id: id.into(),
        displayname: None,
        media: vec![(1, Some(1))],
    }
}

#[tokio::test]
async fn a_user_appearing_before_the_cursor_repeats_no_one() {
    let (seen, summary) = walk_while(|d| d.users.push(fake_user("@a:test"))).await;
    assert_eq!(
        seen,
        ["@b:test", "@d:test", "@f:test", "@h:test", "@j:test"]
    );
    // The total grew by one during the walk: within the tolerance.
    assert_eq!(summary.total, 6);
    assert!(summary.is_complete() && !summary.retried, "{summary:?}");
}

/// The total grows by more than the tolerance during the walk (@a and @c
/// appear before the walk's position, @e after it): the first attempt
/// falls short, the second one from the start sees every user and completes
/// the walk. It passes on only users past the last one passed on, so @a and
/// @c, new during the walk, are checked by the next run.
#[tokio::test]
async fn a_total_growing_mid_walk_beyond_the_tolerance_is_walked_again() {
    let (seen, summary) = walk_while(|d| {
        for id in ["@a:test", "@c:test", "@e:test"] {
            d.users.push(fake_user(id));
        }
    })
    .await;
    assert_eq!(summary.total, 8);
    assert!(summary.is_complete() && summary.retried, "{summary:?}");
    assert_eq!(
        seen,
        [
            "@b:test", "@d:test", "@e:test", "@f:test", "@h:test", "@j:test"
        ]
    );
}

/// The total grows after the cursor: the new users are seen in this walk.
#[tokio::test]
async fn a_total_growing_after_the_cursor_is_seen() {
    let (seen, summary) = walk_while(|d| {
        for id in ["@k:test", "@l:test", "@m:test"] {
            d.users.push(fake_user(id));
        }
    })
    .await;
    assert!(summary.is_complete() && !summary.retried, "{summary:?}");
    assert_eq!(seen.len(), 8, "{seen:?}");
}

#[tokio::test]
async fn a_user_leaving_before_the_cursor_loses_no_one() {
    let (seen, summary) = walk_while(|d| d.users.retain(|u| u.user_id != "@b:test")).await;
    assert_eq!(
        seen,
        ["@b:test", "@d:test", "@f:test", "@h:test", "@j:test"]
    );
    // The total shrank during the walk: more users seen than it, complete.
    assert_eq!(summary.total, 4);
    assert!(summary.is_complete() && !summary.retried, "{summary:?}");
}

/// The total shrinks past the cursor: fewer users to see, complete.
#[tokio::test]
async fn a_total_shrinking_after_the_cursor_is_complete() {
    let (seen, summary) = walk_while(|d| {
        d.users
            .retain(|u| u.user_id != "@h:test" && u.user_id != "@j:test")
    })
    .await;
    assert_eq!(seen, ["@b:test", "@d:test", "@f:test"]);
    assert_eq!(summary.total, 3);
    assert!(summary.is_complete() && !summary.retried, "{summary:?}");
}
