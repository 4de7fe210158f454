//! One conformance suite for Synapse's statistics admin API, run against the
//! fake and against a real Synapse on SQLite and on PostgreSQL.
//!
//! The fake is trusted only where this suite passes on all three. Each check
//! compares a server's answers with expectations computed from the seeded
//! scenario ([`SEED`]) and with Synapse 1.163.2's exact validation messages
//! and status codes; every failing check is reported, not just the first.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use serde_json::Value;
use synapse_warden::core::model::usage::{TimeRange, UserMedia};
use synapse_warden::core::model::users_source::UsersSource;
use synapse_warden::synapse::client::ModuleSecret;
use synapse_warden::synapse::{
    AdminToken, ClientConfig, Direction, OrderBy, PageLimit, RetryPolicy, SearchTerm,
    SynapseClient, SynapseError, UsersMediaQuery, WalkChunk, WalkOptions, WalkSummary,
};

/// The database behind a server: ordering and `LIKE` differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// One user of the seeded scenario: media uploaded before the scenario's
/// midpoint (`early`) and after it (`late`), as byte sizes.
pub struct SeedUser {
    pub localpart: &'static str,
    pub displayname: Option<&'static str>,
    pub early: &'static [u64],
    pub late: &'static [u64],
}

/// The scenario every target is seeded with. It has ties in both
/// `media_length` and `media_count`, a missing display name, `_` in a
/// localpart (a `LIKE` wildcard), upper case, and users whose media fall only
/// on one side of the midpoint.
pub const SEED: &[SeedUser] = &[
    SeedUser {
        localpart: "alice",
        displayname: Some("Alice"),
        early: &[1000, 2000],
        late: &[500],
    },
    SeedUser {
        localpart: "bob_smith",
        displayname: Some("Bob"),
        early: &[3000],
        late: &[],
    },
    SeedUser {
        localpart: "carol",
        displayname: None,
        early: &[],
        late: &[700, 700],
    },
    SeedUser {
        localpart: "dave",
        displayname: Some("Big Dave"),
        early: &[5000],
        late: &[5000, 1],
    },
    SeedUser {
        localpart: "erin",
        displayname: Some("erin"),
        early: &[100],
        late: &[],
    },
    SeedUser {
        localpart: "frank",
        displayname: Some("Frank"),
        early: &[2500],
        late: &[1000],
    },
    SeedUser {
        localpart: "grace",
        displayname: Some("Grace_Hopper"),
        early: &[],
        late: &[42],
    },
    SeedUser {
        localpart: "mallory",
        displayname: Some("Mallory"),
        early: &[3500],
        late: &[],
    },
];

/// A server under test.
pub struct Target {
    pub label: String,
    pub base_url: String,
    pub admin_token: String,
    pub user_token: String,
    pub server_name: String,
    pub db: Db,
    /// Upload times: every `early` medium is at or before this, every
    /// `late` one strictly after it (Unix ms).
    pub mid_ms: u64,
}

impl Target {
    fn uid(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// What the users endpoint should report for the seed, counting the
    /// media on the given sides of the midpoint.
    fn expected(&self, early: bool, late: bool) -> BTreeMap<String, (u64, u64)> {
        let mut out = BTreeMap::new();
        for user in SEED {
            let media: Vec<u64> = [(user.early, early), (user.late, late)]
                .into_iter()
                .filter(|(_, inside)| *inside)
                .flat_map(|(m, _)| m.iter().copied())
                .collect();
            if !media.is_empty() {
                out.insert(
                    self.uid(user.localpart),
                    (media.len() as u64, media.iter().sum()),
                );
            }
        }
        out
    }

    pub fn client(&self) -> SynapseClient {
        let mut config = ClientConfig::new(
            self.base_url.parse().unwrap(),
            AdminToken::new(&self.admin_token),
        );
        config.retry = RetryPolicy::none();
        SynapseClient::new(config).unwrap()
    }

    async fn raw(&self, query: &str, token: Option<&str>) -> (u16, Value) {
        let url = format!(
            "{}/_synapse/admin/v1/statistics/users/media{query}",
            self.base_url
        );
        raw_get(&url, token).await
    }
}

pub async fn raw_get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (status, json)
}

/// Collects failures instead of stopping at the first.
#[derive(Default)]
pub struct Report {
    label: String,
    failures: Vec<String>,
    checks: usize,
}

impl Report {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.failures.push(what());
        }
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        self.check(got == want, || {
            format!("{what}:\n    got  {got:?}\n    want {want:?}")
        });
    }

    pub fn assert_ok(&self) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} conformance checks failed:\n- {}",
            self.label,
            self.failures.len(),
            self.checks,
            self.failures.join("\n- ")
        );
        eprintln!("{}: {} conformance checks passed", self.label, self.checks);
    }
}

/// The validation table: query, status, errcode, message — Synapse 1.163.2.
/// Parameters are checked in Synapse's order (order_by, from, limit, from_ts,
/// until_ts, search_term, dir), so the first bad one wins.
const VALIDATION: &[(&str, u16, &str, &str)] = &[
    (
        "?limit=-1",
        400,
        "M_INVALID_PARAM",
        "Query parameter limit must be a positive integer.",
    ),
    (
        "?limit=abc",
        400,
        "M_INVALID_PARAM",
        "Query parameter limit must be an integer",
    ),
    (
        "?limit=1.5",
        400,
        "M_INVALID_PARAM",
        "Query parameter limit must be an integer",
    ),
    (
        "?from=-3",
        400,
        "M_INVALID_PARAM",
        "Query parameter from must be a positive integer.",
    ),
    (
        "?from=x",
        400,
        "M_INVALID_PARAM",
        "Query parameter from must be an integer",
    ),
    (
        "?from_ts=-1",
        400,
        "M_INVALID_PARAM",
        "Query parameter from_ts must be a positive integer.",
    ),
    (
        "?until_ts=-1",
        400,
        "M_INVALID_PARAM",
        "Query parameter until_ts must be a positive integer.",
    ),
    (
        "?from_ts=10&until_ts=10",
        400,
        "M_INVALID_PARAM",
        "Query parameter until_ts must be greater than from_ts.",
    ),
    (
        "?from_ts=10&until_ts=9",
        400,
        "M_INVALID_PARAM",
        "Query parameter until_ts must be greater than from_ts.",
    ),
    (
        "?until_ts=0",
        400,
        "M_INVALID_PARAM",
        "Query parameter until_ts must be greater than from_ts.",
    ),
    (
        "?search_term=",
        400,
        "M_INVALID_PARAM",
        "Query parameter search_term cannot be an empty string.",
    ),
    (
        "?search_term=%C3%A9",
        400,
        "M_UNKNOWN",
        "Query parameter 'search_term' must be ascii",
    ),
    (
        "?order_by=size",
        400,
        "M_INVALID_PARAM",
        "Query parameter 'order_by' must be one of ['media_length', 'media_count', 'user_id', 'displayname']",
    ),
    (
        "?dir=x",
        400,
        "M_INVALID_PARAM",
        "Query parameter 'dir' must be one of ['b', 'f']",
    ),
    (
        "?dir=F",
        400,
        "M_INVALID_PARAM",
        "Query parameter 'dir' must be one of ['b', 'f']",
    ),
    // First bad parameter in Synapse's order wins.
    (
        "?limit=-1&order_by=nope",
        400,
        "M_INVALID_PARAM",
        "Query parameter 'order_by' must be one of ['media_length', 'media_count', 'user_id', 'displayname']",
    ),
    (
        "?limit=-1&from=-1",
        400,
        "M_INVALID_PARAM",
        "Query parameter from must be a positive integer.",
    ),
    (
        "?dir=x&search_term=",
        400,
        "M_INVALID_PARAM",
        "Query parameter search_term cannot be an empty string.",
    ),
    (
        "?limit=99999999999999999999",
        500,
        "M_UNKNOWN",
        "Internal server error",
    ),
];

/// Odd queries Synapse accepts (200), and the users they answer: integers
/// are read by Python's `int()` from the first value of a repeated
/// parameter; an item without `=` is ignored; `;` separates items.
const ACCEPTED: &[(&str, usize)] = &[
    ("?limit=2&limit=x", 2),
    ("?limit=%202%20", 2),
    ("?limit=+2", 2),
    ("?limit=1_0", 8),
    ("?limit", 8),
    ("?limit=3;from=1", 3),
    ("?from=-0", 8),
];

/// Runs every users-endpoint check against `target`.
pub async fn run_users_suite(target: &Target) -> Report {
    let mut r = Report {
        label: target.label.clone(),
        ..Report::default()
    };
    let all = target.expected(true, true);

    // Authentication.
    let (status, body) = target.raw("", None).await;
    r.eq(
        "no token",
        (status, body["errcode"].clone(), body["error"].clone()),
        (401, "M_MISSING_TOKEN".into(), "Missing access token".into()),
    );
    let (status, body) = target.raw("", Some("syt_not_a_real_token")).await;
    r.eq(
        "unknown token",
        (
            status,
            body["errcode"].clone(),
            body["error"].clone(),
            body["soft_logout"].clone(),
        ),
        (
            401,
            "M_UNKNOWN_TOKEN".into(),
            "Invalid access token passed.".into(),
            false.into(),
        ),
    );
    let (status, body) = target.raw("", Some(&target.user_token)).await;
    r.eq(
        "non-admin token",
        (status, body["errcode"].clone(), body["error"].clone()),
        (
            403,
            "M_FORBIDDEN".into(),
            "You are not a server admin".into(),
        ),
    );
    let client = target.client();
    r.check(
        matches!(
            client_with_token(target, "syt_nope")
                .users_media(&UsersMediaQuery::new())
                .await,
            Err(SynapseError::Unauthorized { .. })
        ),
        || "client: unknown token is not Unauthorized".into(),
    );
    r.check(
        matches!(
            client_with_token(target, &target.user_token)
                .users_media(&UsersMediaQuery::new())
                .await,
            Err(SynapseError::NotAdmin { .. })
        ),
        || "client: user token is not NotAdmin".into(),
    );

    // Validation table.
    for (query, status, errcode, message) in VALIDATION {
        let (got_status, body) = target.raw(query, Some(&target.admin_token)).await;
        r.eq(
            &format!("validation {query}"),
            (
                got_status,
                body["errcode"].as_str().unwrap_or("").to_owned(),
                body["error"].as_str().unwrap_or("").to_owned(),
            ),
            (*status, (*errcode).to_owned(), (*message).to_owned()),
        );
    }

    for (query, users) in ACCEPTED {
        let (status, body) = target.raw(query, Some(&target.admin_token)).await;
        r.eq(
            &format!("accepted {query}"),
            (status, body["users"].as_array().map(Vec::len)),
            (200, Some(*users)),
        );
    }
    let (status, body) = target.raw("?dir=b&dir=x", Some(&target.admin_token)).await;
    r.eq(
        "every value of a repeated string parameter is checked",
        (status, body["errcode"].clone()),
        (400, "M_INVALID_PARAM".into()),
    );
    let (status, body) = target
        .raw(&format!("?access_token={}", target.admin_token), None)
        .await;
    r.eq(
        "the access_token query parameter",
        (status, body["total"].as_u64()),
        (200, Some(all.len() as u64)),
    );

    // Defaults and the shape of one big page.
    let (status, body) = target.raw("?limit=1000", Some(&target.admin_token)).await;
    r.eq("big page status", status, 200);
    r.eq(
        "big page total",
        body["total"].as_u64(),
        Some(all.len() as u64),
    );
    r.check(body.get("next_token").is_none(), || {
        format!("big page has a next_token: {body}")
    });
    let (_, body) = target.raw("", Some(&target.admin_token)).await;
    r.eq(
        "default limit answers every seeded user",
        body["users"].as_array().map(Vec::len),
        Some(all.len()),
    );
    let (_, body) = target.raw("?limit=0", Some(&target.admin_token)).await;
    r.eq(
        "limit=0",
        (
            body["users"].clone(),
            body["next_token"].clone(),
            body["total"].clone(),
        ),
        (Value::Array(vec![]), 0.into(), all.len().into()),
    );
    let (_, body) = target.raw("?from=1000", Some(&target.admin_token)).await;
    r.eq(
        "from past the end",
        (
            body["users"].clone(),
            body.get("next_token").cloned(),
            body["total"].clone(),
        ),
        (Value::Array(vec![]), None, all.len().into()),
    );

    // Values, including a null display name.
    let big = client
        .users_media(&UsersMediaQuery::new().limit(PageLimit::new(1000).unwrap()))
        .await;
    match big {
        Ok(page) => {
            let got: BTreeMap<_, _> = page
                .users
                .iter()
                .map(|u| (u.user_id.clone(), (u.media_count, u.bytes())))
                .collect();
            r.eq("counts and lengths of every user", got, all.clone());
            let carol = page.users.iter().find(|u| u.user_id == target.uid("carol"));
            r.eq(
                "carol has no display name",
                carol.map(|u| u.displayname.clone()),
                Some(None),
            );
            let alice = page.users.iter().find(|u| u.user_id == target.uid("alice"));
            r.eq(
                "alice's display name",
                alice.and_then(|u| u.displayname.clone()),
                Some("Alice".into()),
            );
            let ids: Vec<_> = page.users.iter().map(|u| u.user_id.clone()).collect();
            let mut sorted = ids.clone();
            sorted.sort();
            r.eq("default order is user_id ascending", ids, sorted);
        }
        Err(e) => r.check(false, || format!("big page via client: {e}")),
    }

    // Orders and directions.
    for order in [
        OrderBy::UserId,
        OrderBy::Displayname,
        OrderBy::MediaLength,
        OrderBy::MediaCount,
    ] {
        for dir in [Direction::Forward, Direction::Backward] {
            let q = UsersMediaQuery::new()
                .limit(PageLimit::new(1000).unwrap())
                .order(order, dir);
            match client.users_media(&q).await {
                Ok(page) => {
                    let keys: Vec<SortKey> = page
                        .users
                        .iter()
                        .map(|u| sort_key(u, order, target.db))
                        .collect();
                    let mut sorted = keys.clone();
                    sorted.sort();
                    if dir == Direction::Backward {
                        sorted.reverse();
                    }
                    r.eq(
                        &format!("order {} {}", order.as_str(), dir.as_str()),
                        keys,
                        sorted,
                    );
                    r.eq(
                        &format!("order {} {} has every user", order.as_str(), dir.as_str()),
                        page.users.len(),
                        all.len(),
                    );
                }
                Err(e) => r.check(false, || {
                    format!("order {} {}: {e}", order.as_str(), dir.as_str())
                }),
            }
        }
    }

    // Pagination: small pages, following next_token, add up to the big page.
    for limit in [1u64, 2, 3, 5] {
        let mut from = 0;
        let mut seen = Vec::new();
        for _ in 0..100 {
            let (_, body) = target
                .raw(
                    &format!("?limit={limit}&from={from}"),
                    Some(&target.admin_token),
                )
                .await;
            let users = body["users"].as_array().cloned().unwrap_or_default();
            let total = body["total"].as_u64().unwrap_or(0);
            let token = body.get("next_token").and_then(Value::as_u64);
            r.eq(
                &format!("limit={limit} from={from}: next_token present iff from+limit < total"),
                token.is_some(),
                from + limit < total,
            );
            if let Some(token) = token {
                r.eq(
                    &format!("limit={limit} from={from}: next_token = from + page length"),
                    token,
                    from + users.len() as u64,
                );
            }
            seen.extend(
                users
                    .iter()
                    .filter_map(|u| u["user_id"].as_str().map(str::to_owned)),
            );
            match token {
                Some(t) => from = t,
                None => break,
            }
        }
        r.eq(
            &format!("pages of {limit} add up to one big page"),
            seen,
            all.keys().cloned().collect::<Vec<_>>(),
        );
    }

    // The client's full walk, small pages and default pages.
    for page_size in [1u64, 3, 100_000] {
        let options = WalkOptions {
            page_size: PageLimit::new(page_size).unwrap(),
            chunk: 2,
            ..WalkOptions::default()
        };
        match walk_all(&client, options).await {
            Ok((users, pages)) => {
                let got: BTreeMap<_, _> = users
                    .iter()
                    .map(|u| (u.user_id.clone(), (u.media_count, u.bytes())))
                    .collect();
                r.eq(&format!("walk with pages of {page_size}"), got, all.clone());
                let want_pages = (all.len() as u64).div_ceil(page_size) as u32;
                r.eq(
                    &format!("pages walked with pages of {page_size}"),
                    pages,
                    want_pages,
                );
            }
            Err(e) => r.check(false, || format!("walk with pages of {page_size}: {e}")),
        }
    }

    // Search term: LIKE over the localpart or the display name.
    let search = async |term: &str| -> Vec<String> {
        let q = UsersMediaQuery::new()
            .limit(PageLimit::new(1000).unwrap())
            .search(SearchTerm::new(term).unwrap());
        let mut ids: Vec<String> = client
            .users_media(&q)
            .await
            .map(|p| p.users.into_iter().map(|u| u.user_id).collect())
            .unwrap_or_else(|e| vec![format!("error: {e}")]);
        ids.sort();
        ids
    };
    r.eq(
        "search alice",
        search("alice").await,
        vec![target.uid("alice")],
    );
    r.eq(
        "search by display name",
        search("Big").await,
        vec![target.uid("dave")],
    );
    r.eq(
        "search: `_` is a wildcard",
        search("b_b").await,
        vec![target.uid("bob_smith")],
    );
    r.eq(
        "search: `%` is a wildcard",
        search("a%y").await,
        vec![target.uid("mallory")],
    );
    r.eq(
        "search: `_` in a display name",
        search("e_H").await,
        vec![target.uid("grace")],
    );
    r.eq(
        "search: no match",
        search("zzz").await,
        Vec::<String>::new(),
    );
    let upper = search("ALICE").await;
    match target.db {
        Db::Sqlite => r.eq(
            "search is ASCII-case-insensitive on SQLite",
            upper,
            vec![target.uid("alice")],
        ),
        Db::Postgres => r.eq(
            "search is case-sensitive on PostgreSQL",
            upper,
            Vec::<String>::new(),
        ),
    }

    // Time windows: bounds are inclusive, from_ts=0 means no bound, users
    // with no media in the window disappear.
    let windows = [
        (
            "from_ts=0",
            TimeRange {
                from_ms: Some(0),
                until_ms: None,
            },
            true,
            true,
        ),
        (
            "late only",
            TimeRange {
                from_ms: Some(target.mid_ms + 1),
                until_ms: None,
            },
            false,
            true,
        ),
        (
            "early only",
            TimeRange {
                from_ms: None,
                until_ms: Some(target.mid_ms),
            },
            true,
            false,
        ),
        (
            "future",
            TimeRange {
                from_ms: Some(target.mid_ms + 3_600_000 * 24 * 365),
                until_ms: None,
            },
            false,
            false,
        ),
    ];
    for (what, range, early, late) in windows {
        let q = UsersMediaQuery::new()
            .limit(PageLimit::new(1000).unwrap())
            .range(range)
            .unwrap();
        match client.users_media(&q).await {
            Ok(page) => {
                let got: BTreeMap<_, _> = page
                    .users
                    .iter()
                    .map(|u| (u.user_id.clone(), (u.media_count, u.bytes())))
                    .collect();
                r.eq(
                    &format!("window {what}: total"),
                    page.total,
                    got.len() as u64,
                );
                r.eq(&format!("window {what}"), got, target.expected(early, late));
            }
            Err(e) => r.check(false, || format!("window {what}: {e}")),
        }
    }
    r
}

fn client_with_token(target: &Target, token: &str) -> SynapseClient {
    let mut config = ClientConfig::new(target.base_url.parse().unwrap(), AdminToken::new(token));
    config.retry = RetryPolicy::none();
    SynapseClient::new(config).unwrap()
}

/// Walks to the end; the users and the number of pages.
pub async fn walk_all(
    client: &SynapseClient,
    options: WalkOptions,
) -> Result<(Vec<UserMedia>, u32), SynapseError> {
    walk_summary(client, options)
        .await
        .map(|(users, summary)| (users, summary.pages))
}

/// The secret the warden's Synapse module is loaded with in the module
/// parity checks.
pub const MODULE_SECRET: &str = "conformance-module-secret";

/// Walks to the end; the users and the summary.
pub async fn walk_summary(
    client: &SynapseClient,
    options: WalkOptions,
) -> Result<(Vec<UserMedia>, WalkSummary), SynapseError> {
    let mut walk = client.walk(options);
    let mut users = Vec::new();
    while let Some(item) = walk.try_next().await? {
        match item {
            WalkChunk::Users(chunk) => users.extend(chunk),
            WalkChunk::Done(summary) => return Ok((users, summary)),
        }
    }
    panic!("walk ended without Done");
}

/// Issue 29's parity: the warden's module's keyset pages give exactly the
/// admin API's users and numbers (display names, null ones too), for all
/// media and for windows on either side of the scenario's midpoint, in
/// pages of 2 (many keyset pages) and of 500 (one); and the module's
/// answer has its documented shape and refuses a missing or wrong secret.
pub async fn check_module_parity(target: &Target, when: &str, r: &mut Report) {
    let api = target.client();
    let module = target
        .client()
        .with_module_secret(ModuleSecret::new(MODULE_SECRET));
    let windows = [
        ("all media", TimeRange::ALL),
        (
            "late media (from_ts)",
            TimeRange {
                from_ms: Some(target.mid_ms + 1),
                until_ms: None,
            },
        ),
        (
            "early media (until_ts)",
            TimeRange {
                from_ms: None,
                until_ms: Some(target.mid_ms),
            },
        ),
    ];
    for (window, range) in windows {
        for page in [2u64, 500] {
            let options = WalkOptions {
                range,
                page_size: PageLimit::new(page).unwrap(),
                chunk: 100,
            };
            let what = format!("module parity {when}, {window}, pages of {page}");
            match (
                walk_summary(&api, options.clone()).await,
                walk_summary(&module, options).await,
            ) {
                (Ok((want, _)), Ok((got, summary))) => {
                    r.check(!want.is_empty(), || format!("{what}: no user at all"));
                    r.eq(&format!("{what}: users"), got, want);
                    r.eq(
                        &format!("{what}: source"),
                        summary.source,
                        UsersSource::Module,
                    );
                }
                (a, m) => r.check(false, || {
                    format!("{what}: admin API {:?}, module {:?}", a.err(), m.err())
                }),
            }
        }
    }
    let url = format!(
        "{}/_synapse/client/synapse_warden/v1/users/media",
        target.base_url
    );
    let (status, body) = raw_get(&format!("{url}?limit=2"), Some(MODULE_SECRET)).await;
    r.eq(&format!("module page {when}: status"), status, 200);
    let users = body["users_media"].as_array().cloned().unwrap_or_default();
    r.eq(&format!("module page {when}: users"), users.len(), 2);
    r.eq(
        &format!("module page {when}: next_after is the last user of a full page"),
        body["next_after"].clone(),
        users.get(1).map_or(Value::Null, |u| u["user_id"].clone()),
    );
    r.eq(
        &format!("module page {when}: database"),
        body["database"].as_str(),
        Some(match target.db {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgresql",
        }),
    );
    // format=arrays: the same users, each [user_id, displayname,
    // media_count, media_length]; another format is refused.
    let (status, arrays) =
        raw_get(&format!("{url}?limit=2&format=arrays"), Some(MODULE_SECRET)).await;
    r.eq(&format!("module page {when}, arrays: status"), status, 200);
    let as_arrays: Vec<Value> = users
        .iter()
        .map(|u| {
            serde_json::json!([
                u["user_id"],
                u["displayname"],
                u["media_count"],
                u["media_length"]
            ])
        })
        .collect();
    r.eq(
        &format!("module page {when}, arrays: users"),
        arrays["users_media"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        as_arrays,
    );
    r.eq(
        &format!("module page {when}, arrays: next_after"),
        arrays["next_after"].clone(),
        body["next_after"].clone(),
    );
    let (status, refused) = raw_get(&format!("{url}?format=csv"), Some(MODULE_SECRET)).await;
    r.eq(
        &format!("module with format=csv: {refused}"),
        (status, refused["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM")),
    );
    let (status, body) = raw_get(&url, None).await;
    r.eq(&format!("module without a secret: {body}"), status, 401);
    let (status, body) = raw_get(&url, Some("not-the-secret")).await;
    r.eq(&format!("module with a wrong secret: {body}"), status, 403);
    let (status, body) = raw_get(&format!("{url}?from_ts=5&until_ts=5"), Some(MODULE_SECRET)).await;
    r.eq(
        &format!("module with until_ts = from_ts: {body}"),
        status,
        400,
    );
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Text(Option<String>),
    Number(u64),
}

/// The key a server sorts by. NULL display names sort first ascending on
/// SQLite and last ascending on PostgreSQL.
fn sort_key(user: &UserMedia, order: OrderBy, db: Db) -> SortKey {
    match order {
        OrderBy::UserId => SortKey::Text(Some(user.user_id.clone())),
        OrderBy::Displayname => match (&user.displayname, db) {
            (None, Db::Postgres) => SortKey::Text(Some("\u{10FFFF}".repeat(4))),
            (name, _) => SortKey::Text(name.clone()),
        },
        OrderBy::MediaLength => SortKey::Number(user.bytes()),
        OrderBy::MediaCount => SortKey::Number(user.media_count),
    }
}

/// What the rooms endpoint should answer.
pub enum RoomsExpect {
    /// 400 M_UNKNOWN "Endpoint requires using PostgreSQL".
    Sqlite,
    /// 500 M_UNKNOWN "Internal server error".
    InternalError,
    /// 200 with at least one room, largest first, at most ten.
    Rooms,
}

/// Checks the rooms endpoint, raw and through the client.
pub async fn check_rooms(target: &Target, expect: RoomsExpect, r: &mut Report) {
    let url = format!(
        "{}/_synapse/admin/v1/statistics/database/rooms",
        target.base_url
    );
    let (status, body) = raw_get(&url, None).await;
    r.eq(
        "rooms: no token",
        (status, body["errcode"].clone()),
        (401, "M_MISSING_TOKEN".into()),
    );
    let (status, body) = raw_get(&url, Some(&target.user_token)).await;
    r.eq(
        "rooms: non-admin token",
        (status, body["errcode"].clone()),
        (403, "M_FORBIDDEN".into()),
    );
    let (status, body) = raw_get(&url, Some(&target.admin_token)).await;
    let answer = target.client().largest_rooms().await;
    match expect {
        RoomsExpect::Sqlite => {
            r.eq(
                "rooms on SQLite",
                (status, body["errcode"].clone(), body["error"].clone()),
                (
                    400,
                    "M_UNKNOWN".into(),
                    "Endpoint requires using PostgreSQL".into(),
                ),
            );
            r.check(
                matches!(answer, Err(SynapseError::RequiresPostgres { .. })),
                || format!("client on SQLite: {answer:?}"),
            );
        }
        RoomsExpect::InternalError => {
            r.eq(
                "rooms 500",
                (status, body["errcode"].clone(), body["error"].clone()),
                (500, "M_UNKNOWN".into(), "Internal server error".into()),
            );
            r.check(
                matches!(answer, Err(SynapseError::Server { status: 500, .. })),
                || format!("client on 500: {answer:?}"),
            );
        }
        RoomsExpect::Rooms => {
            r.eq("rooms status", status, 200);
            match answer {
                Ok(rooms) => {
                    r.check(!rooms.is_empty() && rooms.len() <= 10, || {
                        format!("rooms: {} rooms", rooms.len())
                    });
                    r.check(
                        rooms
                            .windows(2)
                            .all(|w| w[0].estimated_size >= w[1].estimated_size),
                        || format!("rooms not largest first: {rooms:?}"),
                    );
                    r.check(
                        rooms.iter().all(|room| room.room_id.starts_with('!')),
                        || format!("room IDs: {rooms:?}"),
                    );
                }
                Err(e) => r.check(false, || format!("rooms via client: {e}")),
            }
        }
    }
}

mod real {
    //! The suite against a real Synapse.

    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use test_support::synapse::{
        Backend, SynapseHarness, ensure_quota_module, warden_module_config,
    };

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    /// Registers the scenario's users and uploads their media on either side
    /// of a midpoint.
    async fn seed(h: &SynapseHarness, db: Db) -> Target {
        let admin = h
            .register("warden-admin", "admin-password", true)
            .await
            .unwrap();
        let plain = h
            .register("plain-user", "user-password", false)
            .await
            .unwrap();
        let mut users = Vec::new();
        for s in SEED {
            let u = h
                .register(s.localpart, "seed-password", false)
                .await
                .unwrap();
            h.set_displayname(&u, s.displayname).await.unwrap();
            users.push(u);
        }
        for (s, u) in SEED.iter().zip(&users) {
            for &bytes in s.early {
                h.upload_media(u, bytes as usize).await.unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mid_ms = now_ms();
        tokio::time::sleep(Duration::from_millis(20)).await;
        for (s, u) in SEED.iter().zip(&users) {
            for &bytes in s.late {
                h.upload_media(u, bytes as usize).await.unwrap();
            }
        }
        Target {
            label: format!("real Synapse on {}", h.backend()),
            base_url: h.base_url().as_str().trim_end_matches('/').to_owned(),
            admin_token: admin.access_token,
            user_token: plain.access_token,
            server_name: h.server_name().to_owned(),
            db,
            mid_ms,
        }
    }

    /// Issue 29's parity on real Synapse with the warden's module loaded as
    /// an admin installs it: as seeded, then after media were uploaded,
    /// deleted and quarantined (by users with and without a display name,
    /// one of whom is left with no media at all).
    async fn module_parity_real(backend: Backend, db: Db) {
        ensure_quota_module().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("module-secret");
        std::fs::write(&secret, format!("{MODULE_SECRET}\n")).unwrap();
        let extra = warden_module_config(&secret).unwrap();
        let h = SynapseHarness::start_with(backend, extra).await.unwrap();
        let target = seed(&h, db).await;
        let mut r = Report {
            label: format!("module parity on {}", target.label),
            ..Report::default()
        };
        check_module_parity(&target, "as seeded", &mut r).await;

        let admin = target.client();
        let henry = h.register("henry", "seed-password", false).await.unwrap();
        h.set_displayname(&henry, None).await.unwrap();
        let ivy = h.register("ivy", "seed-password", false).await.unwrap();
        h.set_displayname(&ivy, Some("Ivy <b>I</b>")).await.unwrap();
        let jo = h.register("jo", "seed-password", false).await.unwrap();
        let mut henrys = Vec::new();
        for bytes in [300, 400, 500] {
            henrys.push(h.upload_media(&henry, bytes).await.unwrap());
        }
        let ivys = h.upload_media(&ivy, 1234).await.unwrap();
        h.upload_media(&ivy, 10).await.unwrap();
        let jos = h.upload_media(&jo, 99).await.unwrap();
        let media_id = |uri: &str| uri.rsplit('/').next().unwrap().to_owned();
        let server = target.server_name.clone();
        assert!(
            admin
                .delete_media(&server, &media_id(&henrys[1]))
                .await
                .unwrap()
        );
        assert!(admin.delete_media(&server, &media_id(&jos)).await.unwrap());
        admin
            .quarantine_media(&server, &media_id(&ivys))
            .await
            .unwrap();
        check_module_parity(&target, "after uploads, deletions and a quarantine", &mut r).await;
        // The changes are seen as the admin API sees them: henry 2 media,
        // ivy 2 (one quarantined, still counted), jo none.
        let (users, _) = walk_summary(
            &admin
                .clone()
                .with_module_secret(ModuleSecret::new(MODULE_SECRET)),
            WalkOptions::default(),
        )
        .await
        .unwrap();
        let find = |id: &str| users.iter().find(|u| u.user_id == id).cloned();
        r.eq(
            "henry after a deletion",
            find(&henry.user_id).map(|u| (u.displayname, u.media_count, u.media_length)),
            Some((None, 2, Some(800))),
        );
        r.eq(
            "ivy after a quarantine",
            find(&ivy.user_id).map(|u| (u.displayname, u.media_count, u.media_length)),
            Some((Some("Ivy <b>I</b>".to_owned()), 2, Some(1244))),
        );
        r.eq("jo after deleting all", find(&jo.user_id), None);
        r.assert_ok();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn module_parity_real_sqlite() {
        module_parity_real(Backend::Sqlite, Db::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn module_parity_real_postgres() {
        module_parity_real(Backend::Postgres, Db::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_real_sqlite() {
        let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
        let target = seed(&h, Db::Sqlite).await;
        let mut r = run_users_suite(&target).await;
        check_rooms(&target, RoomsExpect::Sqlite, &mut r).await;
        r.assert_ok();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_real_postgres() {
        let h = SynapseHarness::start(Backend::Postgres).await.unwrap();
        let target = seed(&h, Db::Postgres).await;
        let mut r = run_users_suite(&target).await;
        // A fresh server on current Synapse: no statistics rows yet (500).
        check_rooms(&target, RoomsExpect::InternalError, &mut r).await;
        // The one place the tests write into Synapse's tables: an OLD
        // server's data (`event_edges.room_id` filled, as Synapse wrote it
        // before element-hq/synapse#19561), simulated so that the shape of
        // Synapse's own 200 is checked, the fake's with it. Every other
        // room test runs on Synapse as installed.
        h.enable_rooms_statistics().await.unwrap();
        check_rooms(&target, RoomsExpect::Rooms, &mut r).await;
        r.assert_ok();
    }
}

mod fake {
    //! The same suite against the fake.

    use super::*;
    use test_support::fake::{self, Dataset, FakeSynapse, RoomsMode};

    const MID_MS: u64 = 1_700_000_000_000;

    async fn start(db: fake::Db) -> (FakeSynapse, Target) {
        let mut dataset = Dataset::new();
        for s in SEED {
            let media: Vec<fake::Media> = s
                .early
                .iter()
                .map(|&len| (MID_MS - 1000, Some(len)))
                .chain(s.late.iter().map(|&len| (MID_MS + 1000, Some(len))))
                .collect();
            dataset = dataset.user(&format!("@{}:test", s.localpart), s.displayname, &media);
        }
        let server = FakeSynapse::start(dataset, db).await;
        let target = Target {
            label: format!("fake Synapse on {db:?}"),
            base_url: server.base_url(),
            admin_token: fake::ADMIN_TOKEN.to_owned(),
            user_token: fake::USER_TOKEN.to_owned(),
            server_name: "test".to_owned(),
            db: match db {
                fake::Db::Sqlite => Db::Sqlite,
                fake::Db::Postgres => Db::Postgres,
            },
            mid_ms: MID_MS,
        };
        (server, target)
    }

    #[tokio::test]
    async fn conformance_fake_sqlite() {
        let (server, target) = start(fake::Db::Sqlite).await;
        let mut r = run_users_suite(&target).await;
        check_rooms(&target, RoomsExpect::Sqlite, &mut r).await;
        module_parity(&server, &target, &mut r).await;
        r.assert_ok();
    }

    /// The fake's module passes the real module's parity checks, as
    /// seeded and after users' media changed.
    async fn module_parity(server: &FakeSynapse, target: &Target, r: &mut Report) {
        server.set_module(Some(fake::FakeModule {
            secret: MODULE_SECRET.into(),
            rooms: fake::ModuleRooms::Failed("not asked".into()),
            users: fake::ModuleUsers::Serve,
        }));
        check_module_parity(target, "as seeded", r).await;
        server.update(|d| {
            d.users
                .add_media("@alice:test", &[(MID_MS + 5000, Some(77))]);
            d.users.remove("@erin:test");
            d.users.push(fake::FakeUser {
                user_id: "@henry:test".into(),
                displayname: None,
                media: vec![(MID_MS - 5000, Some(300)), (MID_MS + 5000, None)],
            });
        });
        check_module_parity(target, "after changes", r).await;
    }

    #[tokio::test]
    async fn conformance_fake_postgres() {
        let (server, target) = start(fake::Db::Postgres).await;
        let mut r = run_users_suite(&target).await;
        module_parity(&server, &target, &mut r).await;
        check_rooms(&target, RoomsExpect::InternalError, &mut r).await;
        server.set_rooms(RoomsMode::Ok(vec![
            ("!small:test".into(), 10),
            ("!big:test".into(), 5000),
        ]));
        check_rooms(&target, RoomsExpect::Rooms, &mut r).await;
        r.assert_ok();
    }
}
