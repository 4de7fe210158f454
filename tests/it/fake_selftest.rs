//! Self-test of the fake Synapse (`test_support::fake`) with plain reqwest: the
//! auth and validation tables byte for byte, SQL semantics (windows, SUM,
//! LIKE, NULL ordering per backend), pagination invariants against the
//! dataset's oracle, the rooms endpoint, every fault, the request log,
//! changes while serving, and dataset generation.
//!
//! Run only these with `cargo test --test it fake_selftest`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use test_support::fake::{
    ADMIN_TOKEN, Dataset, Db, FakeSynapse, FakeUser, Fault, RoomsMode, Selection, SortBy,
    USER_TOKEN, UserStats,
};

const USERS: &str = "/_synapse/admin/v1/statistics/users/media";
const ROOMS: &str = "/_synapse/admin/v1/statistics/database/rooms";
const VERSION: &str = "/_synapse/admin/v1/server_version";
const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

/// An answer: status, `Retry-After`, body text.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn get_with(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.expect("body");
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn get(fake: &FakeSynapse, path_and_query: &str, token: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(format!("{}{path_and_query}", fake.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    get_with(request).await
}

async fn admin(fake: &FakeSynapse, path_and_query: &str) -> Answer {
    get(fake, path_and_query, Some(ADMIN_TOKEN)).await
}

/// One parsed page of the users endpoint.
#[derive(Debug)]
struct Page {
    users: Vec<UserStats>,
    total: u64,
    next_token: Option<u64>,
}

async fn page(fake: &FakeSynapse, query: &str) -> Page {
    let answer = admin(fake, &format!("{USERS}?{query}")).await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.body);
    let json = answer.json();
    Page {
        users: serde_json::from_value(json["users"].clone()).expect("users"),
        total: json["total"].as_u64().expect("total"),
        next_token: json.get("next_token").map(|t| t.as_u64().expect("token")),
    }
}

fn ids(users: &[UserStats]) -> Vec<&str> {
    users.iter().map(|u| u.user_id.as_str()).collect()
}

/// The hand-made dataset of the semantic checks.
fn small() -> Dataset {
    Dataset::builder()
        .user(
            "@alice:test",
            Some("Alice"),
            &[(1000, Some(100)), (2000, Some(200))],
        )
        .user("@bob_smith:test", Some("Bob"), &[(1500, Some(300))])
        .user("@bobXsmith:test", None, &[(3000, Some(300))])
        // Only a pending upload: media_length null.
        .user("@Carol:test", Some("carol"), &[(2000, None)])
        // A pending upload beside a finished one: SUM ignores the NULL.
        .user(
            "@dave:test",
            Some("Dave 100%"),
            &[(500, Some(50)), (2500, None)],
        )
        .user("@erin:test", Some("Zoë"), &[(4000, Some(10))])
        // No media: never listed.
        .user("@frank:test", Some("ALICE fan"), &[])
        .user("@gina:test", None, &[(2000, Some(100))])
}

// ---------------------------------------------------------------------------
// Auth, routing, bodies
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fake_auth_answers_as_synapse() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    for path in [USERS, ROOMS] {
        let a = get(&fake, path, None).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (
                401,
                r#"{"errcode":"M_MISSING_TOKEN","error":"Missing access token"}"#
            )
        );
        let a = get(&fake, path, Some("syt_unknown")).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (
                401,
                r#"{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed.","soft_logout":false}"#
            )
        );
        let a = get(&fake, path, Some(USER_TOKEN)).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (
                403,
                r#"{"errcode":"M_FORBIDDEN","error":"You are not a server admin"}"#
            )
        );
    }
    assert_eq!(
        (fake.admin_token(), fake.user_token()),
        (ADMIN_TOKEN, USER_TOKEN)
    );

    // Synapse's other token rules.
    let client = reqwest::Client::new();
    let url = format!("{}{USERS}", fake.base_url());
    let missing = |message: &str| format!(r#"{{"errcode":"M_MISSING_TOKEN","error":"{message}"}}"#);
    for (header, want) in [
        (
            format!("bearer {ADMIN_TOKEN}"),
            missing("Invalid Authorization header."),
        ),
        (
            format!("Bearer  {ADMIN_TOKEN}"),
            missing("Invalid Authorization header."),
        ),
        (
            "Basic abc".to_owned(),
            missing("Invalid Authorization header."),
        ),
    ] {
        let a = get_with(client.get(&url).header("authorization", header)).await;
        assert_eq!((a.status, a.body), (401, want));
    }
    let a = get_with(
        client
            .get(&url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}")),
    )
    .await;
    assert_eq!(
        (a.status, a.body),
        (401, missing("Too many Authorization headers."))
    );
    let a = get_with(
        client
            .get(format!("{url}?access_token={ADMIN_TOKEN}"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(
        (a.status, a.body),
        (
            401,
            missing("Mixing Authorization headers and access_token query parameters.")
        )
    );
    // The deprecated query parameter still works.
    let a = get(&fake, &format!("{USERS}?access_token={ADMIN_TOKEN}"), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = get(&fake, &format!("{USERS}?access_token="), None).await;
    assert_eq!(a.json()["errcode"], "M_UNKNOWN_TOKEN");
    let a = get(&fake, &format!("{USERS}?access_token={USER_TOKEN}"), None).await;
    assert_eq!(a.status, 403);
}

#[tokio::test]
async fn fake_routes_as_synapse() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    let a = get(&fake, VERSION, None).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"server_version":"1.163.2"}"#)
    );
    let unrecognized = r#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#;
    for path in [
        "/_synapse/admin/v1/statistics/users/media/",
        "/_synapse/admin/v1/statistics/users",
        "/_synapse/admin/v2/statistics/users/media",
        "/",
    ] {
        let a = admin(&fake, path).await;
        assert_eq!((a.status, a.body.as_str()), (404, unrecognized), "{path}");
    }
    let a = get_with(
        reqwest::Client::new()
            .post(format!("{}{USERS}", fake.base_url()))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (405, unrecognized));
}

#[tokio::test]
async fn fake_users_bodies_are_byte_exact() {
    let fake = FakeSynapse::start(small(), Db::Postgres).await;
    let a = admin(&fake, &format!("{USERS}?limit=2")).await;
    assert_eq!(
        a.body,
        concat!(
            r#"{"users":[{"user_id":"@Carol:test","displayname":"carol","media_count":1,"media_length":null},"#,
            r#"{"user_id":"@alice:test","displayname":"Alice","media_count":2,"media_length":300}],"#,
            r#""total":7,"next_token":2}"#
        )
    );
    // limit=0: no users, a token that does not advance.
    let a = admin(&fake, &format!("{USERS}?limit=0")).await;
    assert_eq!(a.body, r#"{"users":[],"total":7,"next_token":0}"#);
    let a = admin(&fake, &format!("{USERS}?limit=0&from=5")).await;
    assert_eq!(a.body, r#"{"users":[],"total":7,"next_token":5}"#);
    // Past the end, and exactly at it: no token.
    let a = admin(&fake, &format!("{USERS}?from=9")).await;
    assert_eq!(a.body, r#"{"users":[],"total":7}"#);
    let a = admin(&fake, &format!("{USERS}?from=5&limit=2")).await;
    assert!(!a.body.contains("next_token"), "{}", a.body);
    // Python's ensure_ascii.
    let a = admin(&fake, &format!("{USERS}?search_term=erin")).await;
    assert_eq!(
        a.body,
        r#"{"users":[{"user_id":"@erin:test","displayname":"Zo\u00eb","media_count":1,"media_length":10}],"total":1}"#
    );
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

fn invalid(message: &str) -> (u16, String) {
    (
        400,
        format!(r#"{{"errcode":"M_INVALID_PARAM","error":"{message}"}}"#),
    )
}

const ORDER_BY_ERROR: &str = "Query parameter 'order_by' must be one of ['media_length', 'media_count', 'user_id', 'displayname']";
const DIR_ERROR: &str = "Query parameter 'dir' must be one of ['b', 'f']";
const INTERNAL: &str = r#"{"errcode":"M_UNKNOWN","error":"Internal server error"}"#;

#[tokio::test]
async fn fake_validation_table() {
    let ascii = (
        400,
        r#"{"errcode":"M_UNKNOWN","error":"Query parameter 'search_term' must be ascii"}"#
            .to_owned(),
    );
    let big = "99999999999999999999";
    let digits_4301 = "1".repeat(4301);
    let zeros_4301 = format!("{}1", "0".repeat(4300));
    let table: Vec<(String, (u16, String))> = vec![
        (
            "limit=-1".into(),
            invalid("Query parameter limit must be a positive integer."),
        ),
        (
            "limit=abc".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "limit=1.5".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "limit=".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "limit=0x10".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "limit=1__0".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "limit=%1C5".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            format!("limit={digits_4301}"),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            format!("limit={zeros_4301}"),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "from=-3".into(),
            invalid("Query parameter from must be a positive integer."),
        ),
        (
            "from=x".into(),
            invalid("Query parameter from must be an integer"),
        ),
        (
            "from_ts=-1".into(),
            invalid("Query parameter from_ts must be a positive integer."),
        ),
        (
            "until_ts=-1".into(),
            invalid("Query parameter until_ts must be a positive integer."),
        ),
        (
            "from_ts=10&until_ts=10".into(),
            invalid("Query parameter until_ts must be greater than from_ts."),
        ),
        (
            "from_ts=10&until_ts=9".into(),
            invalid("Query parameter until_ts must be greater than from_ts."),
        ),
        (
            "until_ts=0".into(),
            invalid("Query parameter until_ts must be greater than from_ts."),
        ),
        (
            format!("from_ts={big}1&until_ts={big}"),
            invalid("Query parameter until_ts must be greater than from_ts."),
        ),
        (
            "search_term=".into(),
            invalid("Query parameter search_term cannot be an empty string."),
        ),
        ("search_term=%C3%A9".into(), ascii.clone()),
        ("search_term=%E9".into(), ascii.clone()),
        ("order_by=size".into(), invalid(ORDER_BY_ERROR)),
        ("order_by=USER_ID".into(), invalid(ORDER_BY_ERROR)),
        ("dir=x".into(), invalid(DIR_ERROR)),
        ("dir=F".into(), invalid(DIR_ERROR)),
        // Integers read the first value only; strings check every value.
        (
            "limit=x&limit=5".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "order_by=user_id&order_by=size".into(),
            invalid(ORDER_BY_ERROR),
        ),
        ("dir=b&dir=x".into(), invalid(DIR_ERROR)),
        ("search_term=ok&search_term=%C3%A9".into(), ascii.clone()),
        (
            "search_term=&search_term=x".into(),
            invalid("Query parameter search_term cannot be an empty string."),
        ),
        // The first bad parameter in Synapse's order wins.
        ("limit=-1&order_by=nope".into(), invalid(ORDER_BY_ERROR)),
        (
            "limit=-1&from=-1".into(),
            invalid("Query parameter from must be a positive integer."),
        ),
        (
            "from_ts=x&limit=x".into(),
            invalid("Query parameter limit must be an integer"),
        ),
        (
            "until_ts=5&from_ts=x".into(),
            invalid("Query parameter from_ts must be an integer"),
        ),
        (
            "search_term=%C3%A9&from_ts=2&until_ts=1".into(),
            invalid("Query parameter until_ts must be greater than from_ts."),
        ),
        (
            "dir=x&search_term=".into(),
            invalid("Query parameter search_term cannot be an empty string."),
        ),
        ("dir=x&search_term=%C3%A9".into(), ascii),
        // Twisted's query parsing: `;` separates, names are unquoted.
        (
            "x=1;limit=-1".into(),
            invalid("Query parameter limit must be a positive integer."),
        ),
        (
            "lim%69t=-1".into(),
            invalid("Query parameter limit must be a positive integer."),
        ),
        // Beyond a signed 64-bit integer: the database fails.
        (format!("limit={big}"), (500, INTERNAL.to_owned())),
        (format!("from={big}"), (500, INTERNAL.to_owned())),
        (
            "limit=9223372036854775808".into(),
            (500, INTERNAL.to_owned()),
        ),
    ];
    let accepted = [
        "limit",
        "limit=5&limit=x",
        "limit=%2B5",
        "limit=+5+",
        "limit=%095%0B",
        "limit=1_0",
        "limit=007",
        "from=-0",
        "limit=9223372036854775807&from=9223372036854775807",
        "order_by=media_count&dir=b&dir=f",
        "search_term=%25",
    ];
    for db in BOTH {
        let fake = FakeSynapse::start(small(), db).await;
        for (query, want) in &table {
            let a = admin(&fake, &format!("{USERS}?{query}")).await;
            assert_eq!(&(a.status, a.body), want, "{db:?} ?{query}");
        }
        for query in accepted {
            let a = admin(&fake, &format!("{USERS}?{query}")).await;
            assert_eq!(a.status, 200, "{db:?} ?{query}: {}", a.body);
        }
        let p = page(&fake, "limit=%2B5").await;
        assert_eq!(p.users.len(), 5);
        let p = page(&fake, "limit=1_0").await;
        assert_eq!((p.users.len(), p.total), (7, 7));
    }

    // Time bounds beyond i64: Python's sqlite3 cannot bind them (500);
    // psycopg2 inlines them and PostgreSQL compares them as numeric.
    for (query, postgres_total) in [
        (format!("from_ts={big}"), 0),
        (format!("until_ts={big}"), 7),
    ] {
        let fake = FakeSynapse::start(small(), Db::Sqlite).await;
        let a = admin(&fake, &format!("{USERS}?{query}")).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (500, INTERNAL),
            "sqlite {query}"
        );
        fake.set_db(Db::Postgres);
        assert_eq!(
            page(&fake, &query).await.total,
            postgres_total,
            "postgres {query}"
        );
    }
}

// ---------------------------------------------------------------------------
// SQL semantics
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fake_sums_counts_and_time_windows_follow_sql() {
    for db in BOTH {
        let fake = FakeSynapse::start(small(), db).await;
        let all = page(&fake, "").await;
        assert_eq!(all.total, 7, "frank has no media");
        let get = |id: &str| all.users.iter().find(|u| u.user_id == id).cloned().unwrap();
        assert_eq!(
            (
                get("@Carol:test").media_count,
                get("@Carol:test").media_length
            ),
            (1, None)
        );
        assert_eq!(
            (
                get("@dave:test").media_count,
                get("@dave:test").media_length
            ),
            (2, Some(50))
        );
        assert_eq!(get("@alice:test").media_length, Some(300));
        assert_eq!(get("@bobXsmith:test").displayname, None);

        // Inclusive bounds; users without media inside disappear.
        let p = page(&fake, "from_ts=2000").await;
        assert_eq!(
            ids(&p.users),
            [
                "@Carol:test",
                "@alice:test",
                "@bobXsmith:test",
                "@dave:test",
                "@erin:test",
                "@gina:test"
            ]
        );
        let alice = p.users.iter().find(|u| u.user_id == "@alice:test").unwrap();
        assert_eq!((alice.media_count, alice.media_length), (1, Some(200)));
        let dave = p.users.iter().find(|u| u.user_id == "@dave:test").unwrap();
        assert_eq!((dave.media_count, dave.media_length), (1, None));
        let p = page(&fake, "until_ts=1000").await;
        assert_eq!(ids(&p.users), ["@alice:test", "@dave:test"]);
        assert_eq!(p.users[0].media_length, Some(100));
        // from_ts=0 is no bound at all.
        let p = page(&fake, "from_ts=0&until_ts=500").await;
        assert_eq!(ids(&p.users), ["@dave:test"]);
        let p = page(&fake, "from_ts=1500&until_ts=2000").await;
        assert_eq!(p.total, 4);
        assert_eq!(page(&fake, "from_ts=4001").await.total, 0);
    }
}

#[tokio::test]
async fn fake_search_is_an_unescaped_like_per_backend() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        // (term, SQLite, PostgreSQL)
        (
            "bob_smith",
            &["@bobXsmith:test", "@bob_smith:test"],
            &["@bobXsmith:test", "@bob_smith:test"],
        ),
        ("ALICE", &["@alice:test"], &[]),
        ("carol", &["@Carol:test"], &["@Carol:test"]),
        ("Carol", &["@Carol:test"], &["@Carol:test"]),
        ("CAROL", &["@Carol:test"], &[]),
        // The server name is after the ':' the pattern needs.
        ("test", &[], &[]),
        ("100%25", &["@dave:test"], &["@dave:test"]),
        (
            "a%25e",
            &["@alice:test", "@dave:test"],
            &["@alice:test", "@dave:test"],
        ),
        (
            "_",
            &[
                "@Carol:test",
                "@alice:test",
                "@bobXsmith:test",
                "@bob_smith:test",
                "@dave:test",
                "@erin:test",
                "@gina:test",
            ],
            &[
                "@Carol:test",
                "@alice:test",
                "@bobXsmith:test",
                "@bob_smith:test",
                "@dave:test",
                "@erin:test",
                "@gina:test",
            ],
        ),
        // PostgreSQL's LIKE escapes with a backslash; SQLite's has none.
        ("bob%5C_smith", &[], &["@bob_smith:test"]),
        ("Zo", &["@erin:test"], &["@erin:test"]),
        ("zo", &["@erin:test"], &[]),
    ];
    for db in BOTH {
        let fake = FakeSynapse::start(small(), db).await;
        for (term, sqlite, postgres) in cases {
            let want = if db == Db::Sqlite { sqlite } else { postgres };
            let p = page(&fake, &format!("search_term={term}")).await;
            assert_eq!(ids(&p.users), *want, "{db:?} search_term={term}");
            assert_eq!(p.total, want.len() as u64);
        }
    }
}

#[tokio::test]
async fn fake_orders_nulls_per_backend() {
    let nulls = ["@bobXsmith:test", "@gina:test"];
    let named = [
        "@alice:test",
        "@bob_smith:test",
        "@dave:test",
        "@erin:test",
        "@Carol:test",
    ];
    for db in BOTH {
        let fake = FakeSynapse::start(small(), db).await;
        let asc = page(&fake, "order_by=displayname").await;
        let desc = page(&fake, "order_by=displayname&dir=b").await;
        let (first, last) = match db {
            Db::Sqlite => (&asc, &desc),
            Db::Postgres => (&desc, &asc),
        };
        assert_eq!(
            ids(&first.users)[..2],
            nulls,
            "{db:?}: NULL display names first"
        );
        assert_eq!(
            ids(&last.users)[5..],
            nulls,
            "{db:?}: NULL display names last"
        );
        // Byte order: upper case first; ties keep user_id ascending.
        let names: Vec<_> = asc
            .users
            .iter()
            .filter_map(|u| u.displayname.clone())
            .collect();
        assert_eq!(names, ["Alice", "Bob", "Dave 100%", "Zo\u{eb}", "carol"]);
        let named_desc: Vec<_> = ids(&desc.users)
            .into_iter()
            .filter(|id| !nulls.contains(id))
            .collect();
        assert_eq!(named_desc, named.iter().rev().copied().collect::<Vec<_>>());

        let by_length = page(&fake, "order_by=media_length").await;
        let expect_asc = [
            "@erin:test",
            "@dave:test",
            "@alice:test",
            "@gina:test",
            "@bobXsmith:test",
            "@bob_smith:test",
        ];
        let mut want: Vec<&str> = expect_asc.to_vec();
        // Ties (100, 300): user_id ascending here, unspecified in Synapse.
        want.sort_by_key(|id| {
            let u = by_length.users.iter().find(|u| u.user_id == *id).unwrap();
            (u.media_length, *id)
        });
        match db {
            Db::Sqlite => want.insert(0, "@Carol:test"),
            Db::Postgres => want.push("@Carol:test"),
        }
        assert_eq!(ids(&by_length.users), want, "{db:?}");
        let by_count = page(&fake, "order_by=media_count&dir=b").await;
        assert_eq!(ids(&by_count.users)[..2], ["@alice:test", "@dave:test"]);
    }
}

// ---------------------------------------------------------------------------
// Pagination against the oracle
// ---------------------------------------------------------------------------

/// Follows `next_token` from 0 with `limit`, checking the token rule on
/// every page; returns the users and the number of pages.
async fn walk(fake: &FakeSynapse, query: &str, limit: u64) -> (Vec<UserStats>, usize) {
    let (mut from, mut users, mut pages) = (0, Vec::new(), 0);
    loop {
        let p = page(fake, &format!("{query}&limit={limit}&from={from}")).await;
        pages += 1;
        let more = from + limit < p.total;
        assert_eq!(
            p.next_token.is_some(),
            more,
            "{query} from={from}: token rule"
        );
        if let Some(token) = p.next_token {
            assert_eq!(token, from + p.users.len() as u64, "{query} from={from}");
        }
        users.extend(p.users);
        match p.next_token {
            Some(token) => from = token,
            None => return (users, pages),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pages_union_to_the_big_page_and_the_oracle() {
    let dataset = Dataset::generate(600, 4, 11);
    let selections = [
        Selection::default(),
        Selection {
            from_ts: 1_799_000_000_000,
            until_ts: Some(1_799_500_000_000),
            ..Selection::default()
        },
        Selection {
            search_term: Some("er_0".into()),
            ..Selection::default()
        },
        Selection {
            search_term: Some("User 1".into()),
            ..Selection::default()
        },
    ];
    for db in BOTH {
        let fake = FakeSynapse::start(dataset.clone(), db).await;
        for selection in &selections {
            for order_by in [
                SortBy::UserId,
                SortBy::Displayname,
                SortBy::MediaLength,
                SortBy::MediaCount,
            ] {
                for backwards in [false, true] {
                    let selection = Selection {
                        order_by,
                        backwards,
                        ..selection.clone()
                    };
                    let mut query = format!(
                        "order_by={}&dir={}&from_ts={}",
                        order_by.as_str(),
                        if backwards { "b" } else { "f" },
                        selection.from_ts
                    );
                    if let Some(until) = selection.until_ts {
                        query.push_str(&format!("&until_ts={until}"));
                    }
                    if let Some(term) = &selection.search_term {
                        query.push_str(&format!("&search_term={}", term.replace(' ', "+")));
                    }
                    let want = dataset.expected(&selection, db);
                    assert!(
                        !want.is_empty(),
                        "{query}: an empty selection tests nothing"
                    );
                    let big = page(&fake, &format!("{query}&limit=100000")).await;
                    assert_eq!(big.users, want, "{db:?} {query}: big page vs oracle");
                    assert_eq!(big.total, want.len() as u64);
                    assert_eq!(big.next_token, None);
                    let (walked, pages) = walk(&fake, &query, 97).await;
                    assert_eq!(walked, want, "{db:?} {query}: pages vs oracle");
                    assert_eq!(pages, want.len().div_ceil(97).max(1));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Rooms
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fake_rooms_modes() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    let a = admin(&fake, ROOMS).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            400,
            r#"{"errcode":"M_UNKNOWN","error":"Endpoint requires using PostgreSQL"}"#
        )
    );
    let fake = FakeSynapse::start(small(), Db::Postgres).await;
    let a = admin(&fake, ROOMS).await;
    assert_eq!((a.status, a.body.as_str()), (500, INTERNAL));
    let rooms: Vec<(String, u64)> = (0..12u64)
        .map(|i| {
            (
                format!("!r{i}:test"),
                [5, 40, 40, 7][i as usize % 4] * (i + 1),
            )
        })
        .collect();
    fake.set_rooms(RoomsMode::Ok(rooms.clone()));
    let a = admin(&fake, ROOMS).await;
    assert_eq!(a.status, 200);
    let got: Vec<(String, u64)> = a.json()["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["room_id"].as_str().unwrap().to_owned(),
                r["estimated_size"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want = rooms;
    want.sort_by_key(|r| std::cmp::Reverse(r.1));
    want.truncate(10);
    assert_eq!(got, want);
    assert!(
        a.body
            .starts_with(r#"{"rooms":[{"room_id":"!r10:test","estimated_size":"#),
        "{}",
        a.body
    );
    fake.set_rooms(RoomsMode::Sqlite);
    assert_eq!(admin(&fake, ROOMS).await.status, 400);
    fake.set_rooms(RoomsMode::Ok(vec![]));
    assert_eq!(admin(&fake, ROOMS).await.body, r#"{"rooms":[]}"#);
    assert_eq!(get(&fake, ROOMS, Some(USER_TOKEN)).await.status, 403);
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fake_status_faults_in_order() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    let faults = fake.faults();
    faults.extend([
        Fault::Status500,
        Fault::BadGateway,
        Fault::RateLimited {
            retry_after_ms: 1500,
        },
    ]);
    assert_eq!(faults.pending(), 3);
    // Readiness checks do not take faults.
    assert_eq!(get(&fake, VERSION, None).await.status, 200);
    let a = admin(&fake, USERS).await;
    assert_eq!((a.status, a.body.as_str()), (500, INTERNAL));
    let a = admin(&fake, ROOMS).await;
    assert_eq!(a.status, 502);
    assert!(a.body.contains("Bad Gateway"));
    // Faults act before authentication.
    let a = get(&fake, USERS, None).await;
    assert_eq!(
        (a.status, a.body.as_str(), a.retry_after.as_deref()),
        (
            429,
            r#"{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests","retry_after_ms":1500}"#,
            Some("2")
        )
    );
    assert_eq!(faults.pending(), 0);
    assert_eq!(admin(&fake, USERS).await.status, 200);

    // A persistent fault, behind the queue.
    faults.set_persistent(Some(Fault::Status500));
    faults.push(Fault::BadGateway);
    assert_eq!(admin(&fake, USERS).await.status, 502);
    assert_eq!(admin(&fake, USERS).await.status, 500);
    assert_eq!(admin(&fake, USERS).await.status, 500);
    faults.set_persistent(None);
    assert_eq!(admin(&fake, USERS).await.status, 200);
    faults.extend([Fault::Status500, Fault::Status500]);
    faults.clear();
    assert_eq!(admin(&fake, USERS).await.status, 200);
}

#[tokio::test]
async fn fake_delay_and_bad_bodies() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    // Delay: slow, and computed after the pause.
    fake.faults().push(Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    let slow = tokio::spawn({
        let url = format!("{}{USERS}", fake.base_url());
        async move { get_with(reqwest::Client::new().get(url).bearer_auth(ADMIN_TOKEN)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    fake.insert_user(FakeUser {
        user_id: "@late:test".into(),
        displayname: None,
        media: vec![(1, Some(1))],
    });
    let a = slow.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(a.json()["total"], 8);

    fake.faults().push(Fault::MalformedJson);
    let a = admin(&fake, USERS).await;
    assert_eq!(a.status, 200);
    assert!(
        serde_json::from_str::<Value>(&a.body).is_err(),
        "{}",
        a.body
    );

    // The status arrives, the body breaks off.
    fake.faults().push(Fault::TruncatedBody);
    let response = reqwest::Client::new()
        .get(format!("{}{USERS}", fake.base_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the status line arrives");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.is_err(), "the body must fail");

    fake.faults().push(Fault::StaleToken);
    let p = page(&fake, "limit=3&from=2").await;
    assert_eq!(p.next_token, Some(2));
    assert_eq!(page(&fake, "limit=3&from=2").await.next_token, Some(5));
}

#[tokio::test]
async fn fake_drop_connection_is_a_connection_error() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    let client = reqwest::Client::new();
    let url = format!("{}{USERS}", fake.base_url());
    // A pooled keep-alive connection first, then one without an answer.
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..2 {
        fake.faults().push(Fault::DropConnection);
        let err = client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect_err("no HTTP answer");
        assert!(err.status().is_none() && !err.is_timeout(), "{err:?}");
        assert!(err.is_request() || err.is_connect(), "{err:?}");
    }
    let log = fake.request_log();
    assert_eq!(
        log.iter().filter(|r| r.status.is_none()).count(),
        2,
        "{log:?}"
    );
    // The server itself is fine.
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn fake_goes_down_and_comes_back() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    let client = reqwest::Client::new();
    let url = format!("{}{USERS}", fake.base_url());
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Explicitly: the pooled connection is cut, new ones are refused.
    fake.down().await;
    assert!(fake.is_down());
    let err = client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(tokio::net::TcpStream::connect(fake.addr()).await.is_err());
    fake.up().await;
    assert!(!fake.is_down());
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // As a fault: the request that meets it has no answer, and then the
    // port refuses connections.
    fake.faults().push(Fault::Down);
    let err = client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    assert!(fake.is_down());
    fake.down().await;
    let err = client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    fake.up().await;
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn fake_stops_when_dropped() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    let addr = fake.addr();
    let mut kept = tokio::net::TcpStream::connect(addr)
        .await
        .expect("listening");
    drop(fake);
    let deadline = Instant::now() + Duration::from_secs(2);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The open connection is closed too.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::io::AsyncReadExt::read(&mut kept, &mut buf),
    )
    .await
    .expect("the open connection must close");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

// ---------------------------------------------------------------------------
// Log, changes while serving
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fake_logs_every_request() {
    let fake = FakeSynapse::start(small(), Db::Sqlite).await;
    get(&fake, VERSION, None).await;
    admin(&fake, &format!("{USERS}?limit=2&from=0")).await;
    get(&fake, &format!("{USERS}?limit=x"), None).await;
    admin(&fake, ROOMS).await;
    admin(&fake, "/nope?a=1").await;
    assert_eq!(fake.request_count(), 5);
    assert_eq!(fake.requests(), ["limit=2&from=0", "limit=x"]);
    let log = fake.request_log();
    let summary: Vec<(&str, &str, &str, Option<u16>)> = log
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                r.query.as_str(),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", VERSION, "", Some(200)),
            ("GET", USERS, "limit=2&from=0", Some(200)),
            ("GET", USERS, "limit=x", Some(401)),
            ("GET", ROOMS, "", Some(400)),
            ("GET", "/nope", "a=1", Some(404)),
        ]
    );
    assert!(
        log.windows(2)
            .all(|w| w[0].at <= w[1].at && w[0].since_start <= w[1].since_start)
    );
    fake.clear_requests();
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn fake_dataset_changes_while_serving() {
    let fake = FakeSynapse::start(small(), Db::Postgres).await;
    assert_eq!(fake.server_name(), "test");
    let first = page(&fake, "limit=3").await;
    assert_eq!(
        ids(&first.users),
        ["@Carol:test", "@alice:test", "@bobXsmith:test"]
    );
    // An upload by a new user sorting first shifts the offsets: the next
    // page repeats the last user of this one, as SQL OFFSET does.
    fake.insert_user(FakeUser {
        user_id: "@Aaron:test".into(),
        displayname: Some("Aaron".into()),
        media: vec![(10, Some(5))],
    });
    let second = page(&fake, "limit=3&from=3").await;
    assert_eq!(ids(&second.users)[0], "@bobXsmith:test");
    assert_eq!(second.total, 8);
    assert!(fake.remove_user("@Aaron:test"));
    assert!(!fake.remove_user("@Aaron:test"));
    assert_eq!(page(&fake, "").await.total, 7);
    // Uploads to an existing user and to a user without media so far.
    fake.add_media("@alice:test", &[(5000, Some(1)), (5001, None)]);
    fake.add_media("@frank:test", &[(5000, None)]);
    let p = page(&fake, "from_ts=5000").await;
    assert_eq!(
        p.users,
        [
            UserStats {
                user_id: "@alice:test".into(),
                displayname: Some("Alice".into()),
                media_count: 2,
                media_length: Some(1),
            },
            UserStats {
                user_id: "@frank:test".into(),
                displayname: Some("ALICE fan".into()),
                media_count: 1,
                media_length: None,
            },
        ]
    );
    fake.update(|d| d.users.retain(|u| u.user_id.starts_with("@a")));
    assert_eq!(ids(&page(&fake, "").await.users), ["@alice:test"]);
    assert_eq!(fake.with_dataset(|d| d.totals()).len(), 1);
}

// ---------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------

#[test]
fn fake_generates_100k_users_deterministically() {
    // No time limit is asserted: tests never time themselves (see the benches).
    let dataset = Dataset::generate(100_000, 10, 7);
    assert_eq!(
        (dataset.users.len(), dataset.users.media_rows()),
        (100_000, 1_000_000)
    );
    let totals = dataset.totals();
    assert_eq!(totals.len(), 100_000);

    let again = Dataset::generate(100_000, 10, 7);
    assert_eq!(again.totals(), totals);
    let other = Dataset::generate(1_000, 10, 8);
    let first_1000: Vec<_> = dataset
        .users
        .iter()
        .take(1000)
        .map(|u| u.to_user())
        .collect();
    let other_users: Vec<_> = other.users.iter().map(|u| u.to_user()).collect();
    assert_ne!(first_1000, other_users, "the seed matters");

    let users: Vec<_> = dataset.users.iter().collect();
    assert!(users.iter().any(|u| u.displayname.is_none()));
    assert!(
        users.iter().any(|u| u.media_length.is_none()),
        "a pending-only user"
    );
    assert!(
        users
            .iter()
            .any(|u| u.media_length.is_some() && u.media.iter().any(|m| m.1.is_none()))
    );
    assert!(users.iter().any(|u| u.user_id.contains('_')));
    assert!(
        users
            .iter()
            .any(|u| u.user_id.chars().any(|c| c.is_ascii_uppercase()))
    );
    assert!(
        users
            .iter()
            .any(|u| u.displayname.is_some_and(|d| !d.is_ascii()))
    );
    let lengths: HashSet<_> = users.iter().map(|u| u.media_length).collect();
    assert!(lengths.len() < users.len() / 2, "ties in media_length");
    assert!(
        users.iter().all(|u| u.media_count == 10),
        "ties in media_count"
    );
    // Precomputed aggregates agree with the rows.
    for u in users.iter().step_by(997) {
        let sum = u.media.iter().filter_map(|m| m.1).reduce(|a, b| a + b);
        assert_eq!((u.media.len() as u64, sum), (u.media_count, u.media_length));
    }
    // Even a tiny dataset has every kind of user.
    let tiny = Dataset::generate(10, 1, 1);
    assert!(tiny.users.iter().any(|u| u.media_length.is_none()));
    assert!(tiny.users.iter().any(|u| u.displayname.is_none()));
    assert!(tiny.users.iter().any(|u| u.user_id.contains('_')));
    assert_eq!(
        Dataset::generate(5, 0, 1).totals().len(),
        0,
        "users without media are absent"
    );
    assert_eq!(
        Dataset::generate_on("example.org", 1, 1, 1).server_name(),
        "example.org"
    );
    assert!(
        Dataset::generate_on("example.org", 1, 1, 1)
            .users
            .iter()
            .all(|u| u.user_id.ends_with(":example.org"))
    );
}

#[test]
fn fake_user_store_keeps_aggregates_right() {
    let mut d = Dataset::builder()
        .with_server_name("hs")
        .user("@a:hs", Some("A"), &[(1, Some(1))]);
    for round in 0..3000u64 {
        // Replacements and appends leave garbage; compaction must not lose rows.
        d.users.push(FakeUser {
            user_id: "@b:hs".into(),
            displayname: None,
            media: vec![(round, Some(round)), (round + 1, None)],
        });
        d.users.add_media("@a:hs", &[(round, Some(2))]);
    }
    let a = d.users.get("@a:hs").unwrap();
    assert_eq!((a.media_count, a.media_length), (3001, Some(1 + 2 * 3000)));
    let b = d.users.get("@b:hs").unwrap();
    assert_eq!((b.media_count, b.media_length), (2, Some(2999)));
    assert_eq!(d.users.media_rows(), 3003);
    assert_eq!(d.users.len(), 2);
    assert_eq!(d.server_name(), "hs");
    let removed = d.users.remove("@a:hs").unwrap();
    assert_eq!(removed.media.len(), 3001);
    assert_eq!(d.users.media_rows(), 2);
    assert!(d.users.get("@a:hs").is_none());
    assert_eq!(d.total_bytes(), 2999);
    let window = Selection {
        from_ts: 2999,
        until_ts: Some(2999),
        ..Selection::default()
    };
    assert_eq!(d.expected(&window, Db::Sqlite)[0].media_length, Some(2999));
}
