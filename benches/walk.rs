//! Benchmark: how long a full walk of a real PostgreSQL Synapse takes at
//! different page sizes, side by side in one run.
//!
//! ```text
//! cargo bench --bench walk -- [--users N] [--media M] [--page-sizes 100,1000,10000,100000]
//! ```
//!
//! It starts a Synapse on PostgreSQL with the test harness, seeds N users
//! with M media each by SQL, then walks every user with synapse-warden's
//! client at each page size (plus one request with `limit >= total`, the lower
//! bound), checks that every walk saw the same users and byte total, and
//! prints the times and their ratios to the fastest. Each page costs Synapse
//! two aggregations over all local media, so the page count dominates.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures::TryStreamExt;
use synapse_warden::synapse::{
    AdminToken, ClientConfig, PageLimit, SynapseClient, UsersMediaQuery, WalkChunk, WalkOptions,
};

use test_support::synapse::{Backend, SynapseHarness};

struct Args {
    users: u64,
    media: u64,
    page_sizes: Vec<u64>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        users: 20_000,
        media: 10,
        page_sizes: vec![100, 1_000, 10_000, 100_000],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--users" => args.users = it.next().context("--users N")?.parse()?,
            "--media" => args.media = it.next().context("--media M")?.parse()?,
            "--page-sizes" => {
                args.page_sizes = it
                    .next()
                    .context("--page-sizes A,B,C")?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            // `cargo bench` passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    Ok(args)
}

/// Walks everything; returns (users, bytes, pages, time).
async fn timed_walk(client: &SynapseClient, page_size: u64) -> Result<(u64, u64, u32, Duration)> {
    let started = Instant::now();
    let options = WalkOptions {
        page_size: PageLimit::new(page_size).context("page size")?,
        ..WalkOptions::default()
    };
    let mut walk = client.walk(options);
    let (mut users, mut bytes) = (0u64, 0u64);
    while let Some(item) = walk.try_next().await? {
        match item {
            WalkChunk::Users(chunk) => {
                users += chunk.len() as u64;
                bytes += chunk.iter().map(|u| u.bytes()).sum::<u64>();
            }
            WalkChunk::Done(summary) => {
                return Ok((users, bytes, summary.pages, started.elapsed()));
            }
        }
    }
    anyhow::bail!("walk ended without a summary")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    // `cargo test --all-targets` runs bench targets too, without `--bench`:
    // the benchmark takes minutes, so it runs only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/walk.rs: not run under `cargo test`; use `cargo bench --bench walk`");
        return Ok(());
    }
    let args = parse_args()?;
    eprintln!(
        "starting a PostgreSQL Synapse and seeding {} users x {} media...",
        args.users, args.media
    );
    let h = SynapseHarness::start(Backend::Postgres).await?;
    let admin = h.register("bench-admin", "bench-password", true).await?;
    let seeded = h.seed_media_sql(args.users, args.media).await?;
    h.psql("ANALYZE;").await?;
    let client = SynapseClient::new(ClientConfig {
        timeout: Duration::from_secs(600),
        ..ClientConfig::new(h.base_url().clone(), AdminToken::new(&admin.access_token))
    })?;

    // The lower bound: one request with limit >= total, collected whole.
    let started = Instant::now();
    let one = client
        .users_media(
            &UsersMediaQuery::new().limit(PageLimit::new(args.users + 1).context("limit")?),
        )
        .await?;
    let one_page = started.elapsed();
    let one_bytes: u64 = one.users.iter().map(|u| u.bytes()).sum();
    ensure!(
        one.users.len() as u64 == seeded.users,
        "one page saw {} users, seeded {}",
        one.users.len(),
        seeded.users
    );
    ensure!(
        one_bytes == seeded.total_bytes,
        "one page saw {one_bytes} bytes, seeded {}",
        seeded.total_bytes
    );

    let mut rows = vec![("one request (lower bound)".to_owned(), 1u32, one_page)];
    for &size in &args.page_sizes {
        let (users, bytes, pages, took) = timed_walk(&client, size).await?;
        ensure!(
            users == seeded.users && bytes == seeded.total_bytes,
            "walk at {size} saw {users} users / {bytes} bytes, seeded {} / {}",
            seeded.users,
            seeded.total_bytes
        );
        rows.push((format!("walk, page size {size}"), pages, took));
    }

    println!(
        "\n{} users x {} media on PostgreSQL Synapse ({} bytes); every walk saw all users and bytes",
        seeded.users, args.media, seeded.total_bytes
    );
    println!(
        "{:<28} {:>6} {:>10} {:>8}",
        "strategy", "pages", "seconds", "ratio"
    );
    for (what, pages, took) in &rows {
        println!(
            "{what:<28} {pages:>6} {:>10.3} {:>7.2}x",
            took.as_secs_f64(),
            took.as_secs_f64() / one_page.as_secs_f64()
        );
    }
    Ok(())
}
