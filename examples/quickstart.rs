//! The quick start: a local Synapse (SQLite) with users, media and an admin
//! room, and synapse-warden running against it, its bot in the room.
//!
//! ```text
//! scripts/quickstart            # or: cargo run --example quickstart
//! ```
//!
//! It prints the first alert as it reaches the room, then how to log in with
//! any Matrix client to talk to the bot. Ctrl-C stops everything (the daemon,
//! then Synapse). With `--oneshot` it also sends `!stats top 10
//! media_length` as the admin, prints the bot's reply, and exits: what CI
//! runs to prove this command works.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use test_support::synapse::{Backend, SynapseHarness, TestUser};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let oneshot = std::env::args().any(|a| a == "--oneshot");
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| {
        "warn,synapse_warden=info,matrix_sdk=error,matrix_sdk::http_client=off,matrix_sdk_crypto=error".into()
    });
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();

    println!(
        "Starting a local Synapse (SQLite). The first time, installing it takes about a minute..."
    );
    let h = SynapseHarness::start(Backend::Sqlite).await?;
    let password = format!("quickstart-{:08x}", rand::random::<u32>());
    let admin = h.register("admin", &password, true).await?;
    let bot = h
        .register("warden", &format!("bot-{password}"), false)
        .await?;
    println!("Seeding users and media...");
    seed(&h).await?;
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await?;
    let dir = h.dir().join("quickstart");
    let policy = write_config(&h, &dir, &admin, &format!("bot-{password}"), &room_id)?;

    let url = h.base_url().as_str().trim_end_matches('/').to_owned();
    let listen = std::fs::read_to_string(&policy)?
        .lines()
        .find_map(|l| l.trim().strip_prefix("listen: ").map(str::to_owned))
        .unwrap_or_default();
    println!();
    println!("synapse-warden is starting against {url} with the policy file");
    println!("  {}", policy.display());
    println!("Metrics: http://{listen}/metrics   Health: http://{listen}/health");
    println!();

    let daemon = tokio::spawn({
        let policy = policy.clone();
        async move { synapse_warden::app::run::run(&policy).await }
    });

    let alert = wait_for_bot(&h, &admin, &room_id, &bot.user_id, |_| true).await?;
    println!("The first alert reached the admin room:\n");
    for line in alert.lines() {
        println!("    {line}");
    }
    println!();
    println!("Talk to the bot with any Matrix client (Element Web or Desktop, ...):");
    println!("  homeserver  {url}");
    println!("  user        admin");
    println!("  password    {password}");
    println!("  room        \"Synapse admins\" (you are already in it)");
    println!("and type, for example:");
    println!("  !stats top 10 media_length");
    println!("  !stats user @alice:{}", h.server_name());
    println!("  !stats help");
    println!("Edit the policy file and type `!stats reload` to change the rules.");

    if oneshot {
        let event_id = send_text(&h, &admin, &room_id, "!stats top 10 media_length").await?;
        let reply = wait_for_bot(&h, &admin, &room_id, &bot.user_id, |e| {
            e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event_id.as_str()
        })
        .await?;
        println!("\n`!stats top 10 media_length` answered:\n");
        for line in reply.lines() {
            println!("    {line}");
        }
        if !reply.contains("@alice:") {
            bail!("the reply does not list alice");
        }
        // SAFETY: signalling our own process, as Ctrl-C would.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGINT);
        }
    } else {
        println!("\nCtrl-C stops everything.");
    }
    let code = daemon.await.context("the daemon task")??;
    println!("Stopped ({code:?}); stopping Synapse.");
    drop(h);
    Ok(())
}

/// Users over and under the quick start's rules.
async fn seed(h: &SynapseHarness) -> Result<()> {
    let users = [
        ("alice", "Alice", vec![2 * MIB; 3]),
        ("bob", "Bob", vec![3 * MIB, MIB + 300 * KIB]),
        ("carol", "Carol", vec![500 * KIB]),
        ("dave", "Dave", vec![4 * KIB; 60]),
    ];
    for (name, display, media) in users {
        let user = h.register(name, &format!("{name}-password"), false).await?;
        h.set_displayname(&user, Some(display)).await?;
        for bytes in media {
            h.upload_media(&user, bytes).await?;
        }
    }
    Ok(())
}

fn write_config(
    h: &SynapseHarness,
    dir: &Path,
    admin: &TestUser,
    bot_password: &str,
    room_id: &str,
) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let secret = |name: &str, value: &str| -> Result<String> {
        let path = dir.join(name);
        std::fs::write(&path, value)?;
        Ok(path.display().to_string())
    };
    let token = secret("admin-token", &admin.access_token)?;
    let password = secret("bot-password", bot_password)?;
    let passphrase = secret(
        "store-passphrase",
        &format!("store-{:016x}", rand::random::<u64>()),
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = h.base_url().as_str().trim_end_matches('/').to_owned();
    let server = h.server_name();
    let policy = dir.join("policies.yaml");
    std::fs::write(
        &policy,
        format!(
            r#"# The quick start's policy: see policies.example.yaml for every key.
synapse:
  url: {url}
  token: {{file: {token}}}
schedule:
  every: 5m
alerts:
  repeat_after: 1h
matrix:
  homeserver: {url}
  user: "@warden:{server}"
  password: {{file: {password}}}
  room: "{room_id}"
  data_dir: {data}
  store_passphrase: {{file: {passphrase}}}
http:
  listen: 127.0.0.1:{port}
rules:
  user_media:
    - name: media-quota
      description: Each user may keep at most 5 MiB of media.
      severity: critical
      exempt: ["@admin:{server}"]
      max_media_length: 5 MiB
      warn_at: 80%
    - name: many-files
      description: More than 50 files.
      severity: warning
      max_media_count: 50
    - name: upload-burst
      description: More than 5 MiB uploaded within an hour.
      severity: warning
      max_media_length: 5 MiB
      window: 1h
"#,
            data = dir.join("data").display(),
        ),
    )?;
    Ok(policy)
}

async fn send_text(
    h: &SynapseHarness,
    user: &TestUser,
    room_id: &str,
    body: &str,
) -> Result<String> {
    let txn = format!("quickstart-{}", rand::random::<u64>());
    let url = h.base_url().join(&format!(
        "_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}"
    ))?;
    let answer: Value = h
        .http()
        .put(url)
        .bearer_auth(&user.access_token)
        .json(&json!({"msgtype": "m.text", "body": body}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["event_id"]
        .as_str()
        .map(str::to_owned)
        .context("no event_id")
}

/// The body of the first message from `sender` that `matches`.
async fn wait_for_bot(
    h: &SynapseHarness,
    reader: &TestUser,
    room_id: &str,
    sender: &str,
    matches: impl Fn(&Value) -> bool,
) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50");
    loop {
        let (_, page) = h.get_json(reader, &path).await?;
        let found = page["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .rev()
            .find(|e| e["type"] == "m.room.message" && e["sender"] == sender && matches(e));
        if let Some(body) = found.and_then(|e| e["content"]["body"].as_str()) {
            return Ok(body.to_owned());
        }
        if Instant::now() > deadline {
            bail!("the bot said nothing in the admin room within two minutes; see the log above");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
