//! A homeserver that delegates authentication (MSC3861: MAS) is recognised
//! from its `auth_metadata` (stable, or MSC2965's unstable endpoint) and
//! explained: `stats status` names the issuer and the scope the admin token
//! needs, and a 403 from the admin API (a token without
//! `urn:synapse:admin:*`) is followed by the two ways to get one, in the
//! daemon's run failure (its notice, `/ready`'s reason) and in `check`. A
//! homeserver that authenticates by itself gets neither. On the fake; real
//! Synapse without MAS answers 404 (checked in `token_rotation`).

use std::path::Path;
use std::sync::Arc;

use synapse_warden::app::synapse_client;
use synapse_warden::core::policy::Config;
use synapse_warden::daemon::service::Daemon;
use synapse_warden::daemon::shared::Readiness;
use test_support::fake::{self, Dataset, DelegatedAuth, FakeSynapse};

use crate::daemon::{Fixture, QUOTA};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");
const ISSUER: &str = "https://auth.fake.test/";
const SCOPE_HINT: &str = "only a token with the scope urn:synapse:admin:* is an admin's";
const MAS_CLI: &str = "`mas-cli manage issue-compatibility-token <localpart> --yes-i-want-to-grant-synapse-admin-privileges`";

#[tokio::test]
async fn delegated_auth_is_read_from_either_endpoint() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&server.base_url(), server.admin_token(), QUOTA);
    let client = synapse_client(&config).unwrap();
    assert_eq!(client.delegated_auth().await.unwrap(), None);
    server.set_delegated_auth(DelegatedAuth::Yes);
    assert_eq!(
        client.delegated_auth().await.unwrap().as_deref(),
        Some(ISSUER)
    );
    server.set_delegated_auth(DelegatedAuth::UnstableOnly);
    server.clear_requests();
    assert_eq!(
        client.delegated_auth().await.unwrap().as_deref(),
        Some(ISSUER)
    );
    let paths: Vec<String> = server.request_log().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/_matrix/client/v1/auth_metadata",
            "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"
        ],
    );
}

/// A daemon whose token is a non-admin's (the fake's 403), one run: what
/// the room and `/ready` say.
async fn refused_run(delegated: DelegatedAuth) -> (String, String) {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    server.set_delegated_auth(delegated);
    let mut f = Fixture::new();
    let config = f.write_policy(&server.base_url(), server.user_token(), QUOTA);
    let readiness = Arc::new(Readiness::default());
    let (mut daemon, _shared) = Daemon::new(
        config,
        f.policy.clone(),
        Box::new(|config: &Config| synapse_client(config).map_err(|e| format!("{e:#}"))),
        f.room.clone(),
        f.state_path(),
        f.metrics.clone(),
        readiness.clone(),
    )
    .unwrap();
    let error = daemon.run_once().await.unwrap().unwrap_err();
    assert!(error.to_string().contains("403"), "{error}");
    (f.room.plain().join("\n"), readiness.reasons().join("\n"))
}

#[tokio::test]
async fn a_403_under_mas_says_what_the_token_lacks_and_how_to_get_one() {
    let (room, ready) = refused_run(DelegatedAuth::Yes).await;
    for said in [&room, &ready] {
        assert!(
            said.contains("not a server admin (403") && said.contains(SCOPE_HINT),
            "{said}"
        );
        assert!(said.contains(MAS_CLI), "{said}");
        assert!(
            said.contains("MAS personal access token with that scope"),
            "{said}"
        );
    }

    // Without MAS, the 403 is as it was.
    let (room, ready) = refused_run(DelegatedAuth::No).await;
    for said in [&room, &ready] {
        assert!(said.contains("not a server admin (403"), "{said}");
        assert!(!said.contains("urn:synapse:admin"), "{said}");
    }
}

async fn cli(policy: &Path, words: &[&str]) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(policy)
        .args(words)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("running synapse-warden");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code(), format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn status_and_check_explain_delegated_auth() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    let mut f = Fixture::new();
    f.write_policy(&server.base_url(), server.admin_token(), QUOTA);

    let (code, out) = cli(&f.policy, &["stats", "status"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("Authentication"), "{out}");

    server.set_delegated_auth(DelegatedAuth::Yes);
    let (code, out) = cli(&f.policy, &["stats", "status"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "Authentication: delegated to {ISSUER} (matrix-authentication-service); the admin token needs the scope urn:synapse:admin:*"
        )),
        "{out}"
    );

    // `check` with a token without the admin scope.
    f.write_policy(&server.base_url(), server.user_token(), QUOTA);
    let (code, out) = cli(&f.policy, &["check"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("not a server admin (403")
            && out.contains(SCOPE_HINT)
            && out.contains(MAS_CLI),
        "{out}"
    );
    server.set_delegated_auth(DelegatedAuth::No);
    let (code, out) = cli(&f.policy, &["check"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("not a server admin (403") && !out.contains("urn:synapse:admin"),
        "{out}"
    );
}
