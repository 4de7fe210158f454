//! The official room list (`GET /_synapse/admin/v1/rooms`): its ordering
//! and paging on the fake and on real Synapse (SQLite and PostgreSQL), and
//! [`SynapseClient::room_list`] reading every page of it, most state events
//! first.

use std::time::Duration;

use serde_json::Value;
use synapse_warden::core::model::rooms::RoomListEntry;
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};
use test_support::fake::{self, Dataset, FakeRoom, FakeSynapse};
use test_support::synapse::{Backend, SynapseHarness};

fn client(base_url: &str, token: &str) -> SynapseClient {
    let mut config = ClientConfig::new(base_url.parse().unwrap(), AdminToken::new(token));
    config.retry = RetryPolicy::none();
    SynapseClient::new(config).unwrap()
}

async fn raw(base_url: &str, token: &str, query: &str) -> Value {
    let url = format!(
        "{}/_synapse/admin/v1/rooms{query}",
        base_url.trim_end_matches('/')
    );
    let answer = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

fn ids(rooms: &Value) -> Vec<String> {
    rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks, on any server whose rooms are `expected` (most state events
/// first, ties by room ID descending): `order_by=state_events` is most
/// first, `dir=b` reverses it, offsets page without repeats or gaps, and
/// the client reads every page in that order.
async fn conforms(base_url: &str, token: &str, expected: &[String]) {
    let n = expected.len();
    let all = raw(base_url, token, "?order_by=state_events").await;
    assert_eq!(ids(&all), expected, "{all}");
    assert_eq!(all["total_rooms"], n);
    assert!(all.get("next_batch").is_none(), "{all}");
    let back = raw(base_url, token, "?order_by=state_events&dir=b").await;
    let mut reversed = expected.to_vec();
    reversed.reverse();
    assert_eq!(ids(&back), reversed, "dir=b is fewest first: {back}");

    let first = raw(base_url, token, "?order_by=state_events&limit=2").await;
    assert_eq!(ids(&first), expected[..2]);
    assert_eq!(first["next_batch"], 2);
    assert!(first.get("prev_batch").is_none());
    let last_from = n - 1;
    let last = raw(
        base_url,
        token,
        &format!("?order_by=state_events&limit=2&from={last_from}"),
    )
    .await;
    assert_eq!(ids(&last), expected[last_from..]);
    assert!(last.get("next_batch").is_none(), "{last}");
    assert_eq!(last["offset"], last_from);

    for page in [1, 2, n as u64, 500] {
        let rooms: Vec<String> = client(base_url, token)
            .room_list(page)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.room_id)
            .collect();
        assert_eq!(rooms, expected, "pages of {page}");
    }
}

#[tokio::test]
async fn the_fakes_room_list_orders_and_pages_as_synapse() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Postgres).await;
    let mut rooms = vec![
        FakeRoom::new("!a:test", 5, 1, 1),
        FakeRoom::new("!b:test", 40, 3, 0),
        FakeRoom::new("!c:test", 12, 2, 1),
        FakeRoom::new("!d:test", 12, 2, 2),
        FakeRoom::new("!e:test", 7, 9, 4),
    ];
    rooms[1].name = Some("<b>big</b> \u{202e}room".to_owned());
    server.set_room_list(rooms);
    let expected: Vec<String> = ["!b:test", "!d:test", "!c:test", "!e:test", "!a:test"]
        .map(str::to_owned)
        .to_vec();
    conforms(&server.base_url(), server.admin_token(), &expected).await;

    let read = client(&server.base_url(), server.admin_token())
        .room_list(2)
        .await
        .unwrap();
    assert_eq!(
        read[0],
        RoomListEntry {
            room_id: "!b:test".into(),
            name: Some("<b>big</b> \u{202e}room".into()),
            state_events: 40,
            joined_members: 3,
            joined_local_members: 0,
        }
    );
    assert_eq!(
        read.iter().filter(|r| r.is_abandoned()).count(),
        1,
        "{read:?}"
    );
}

/// Rooms with 0..4 invitees: each invite is one more current state event.
async fn real(backend: Backend) {
    let h = SynapseHarness::start(backend)
        .await
        .unwrap_or_else(|e| panic!("starting Synapse on {backend}: {e:#}"));
    let admin = h
        .register("warden-admin", "admin-pass", true)
        .await
        .unwrap();
    let mut invitees = Vec::new();
    for i in 0..4 {
        let user = h
            .register(&format!("guest{i}"), "guest-pass", false)
            .await
            .unwrap();
        invitees.push(user.user_id.clone());
    }
    let mut created = Vec::new();
    for k in 0..=4 {
        let invite: Vec<&str> = invitees[..k].iter().map(String::as_str).collect();
        let room = h
            .create_room(&admin, &format!("room {k}"), false, &invite)
            .await
            .unwrap();
        created.push(room);
    }
    // Synapse updates `room_stats_current` in the background after each
    // event: wait until every room shows its members, then compare.
    let base = h.base_url().as_str().to_owned();
    let mut listed = Vec::new();
    for _ in 0..300 {
        listed = client(&base, &admin.access_token)
            .room_list(2)
            .await
            .unwrap();
        if listed.len() == created.len() && listed.iter().all(|r| r.joined_local_members == 1) {
            let by_id = |id: &str| listed.iter().find(|r| r.room_id == id).cloned();
            let counts: Vec<Option<u64>> = created
                .iter()
                .map(|id| by_id(id).map(|r| r.state_events))
                .collect();
            if counts
                .windows(2)
                .all(|w| matches!(w, [Some(a), Some(b)] if a < b))
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut expected = created.clone();
    expected.reverse();
    let got: Vec<String> = listed.iter().map(|r| r.room_id.clone()).collect();
    assert_eq!(got, expected, "{listed:?}");
    conforms(&base, &admin.access_token, &expected).await;
}

#[tokio::test]
async fn real_sqlite_room_list_orders_and_pages() {
    real(Backend::Sqlite).await;
}

#[tokio::test]
async fn real_postgres_room_list_orders_and_pages() {
    real(Backend::Postgres).await;
}
