//! `synapse-warden check`: one run of every rule against Synapse.
//!
//! Reads the policy file and the admin token, walks Synapse's users' media
//! statistics once per walk the engine plans (one per distinct rule window,
//! one after the other, streaming each page into the engine), asks for the
//! largest rooms when there are room rules, and prints the violations.
//!
//! Room sizes exist only on PostgreSQL, and a fresh PostgreSQL server
//! answers 500 until its statistics are gathered: both become a note in the
//! report ("room rules were not checked: ..."), and the media rules are still
//! checked and decide the exit status. Any other failure is an error (exit
//! status 2): a run that could not look at everything does not say "clean".

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures::StreamExt as _;

use super::{EXIT_ERROR, EXIT_OK, EXIT_VIOLATIONS, load_policy, read_secret};
use crate::cli::{CheckArgs, OutputFormat};
use crate::core::eval::{Evaluation, Outcome};
use crate::core::model::TimeRange;
use crate::core::policy::Config;
use crate::core::report;
use crate::synapse::walk::{DEFAULT_CHUNK, DEFAULT_PAGE_SIZE};
use crate::synapse::{
    AdminToken, ClientConfig, PageLimit, RetryPolicy, SynapseClient, SynapseError, WalkChunk,
    WalkOptions,
};

/// Runs `check` with the policy file at `path`.
pub async fn run(path: &Path, args: &CheckArgs) -> Result<ExitCode> {
    let config = match load_policy(path)? {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{}", errors.report());
            return Ok(ExitCode::from(EXIT_ERROR));
        }
    };
    let client = client(&config)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_millis();
    let now_ms = u64::try_from(now_ms).context("the system clock is too far in the future")?;
    let outcome = evaluate(&client, &config, now_ms).await?;
    let rendered = match args.format {
        OutputFormat::Text => report::text(&outcome),
        OutputFormat::Json => report::json(&outcome),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(rendered.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the report");
        }
        _ => {}
    }
    Ok(ExitCode::from(if outcome.is_clean() {
        EXIT_OK
    } else {
        EXIT_VIOLATIONS
    }))
}

/// A Synapse client for the policy's `synapse` section, with the admin token
/// read from where the section says.
pub fn client(config: &Config) -> Result<SynapseClient> {
    let token = read_secret(
        &config.synapse.token,
        "the Synapse admin token (synapse.token)",
    )?;
    let client = SynapseClient::new(ClientConfig {
        base_url: config.synapse.url.clone(),
        token: AdminToken::new(token),
        timeout: config.synapse.timeout,
        retry: RetryPolicy::default(),
    })?;
    Ok(client)
}

/// One run of the policy's rules against Synapse at `now_ms`: the walks the
/// engine plans, in turn, then the largest rooms if needed.
pub async fn evaluate(client: &SynapseClient, config: &Config, now_ms: u64) -> Result<Outcome> {
    let mut eval = Evaluation::plan(&config.rules, now_ms);
    let page_size = config
        .synapse
        .page_size
        .and_then(|n| PageLimit::new(u64::from(n.get())))
        .or_else(|| PageLimit::new(u64::from(DEFAULT_PAGE_SIZE)))
        .context("invalid page size")?;
    let walks: Vec<(TimeRange, Option<Duration>)> =
        eval.walks().iter().map(|w| (w.range, w.window)).collect();
    for (range, window) in walks {
        let what = match window {
            None => "walking the users' media statistics".to_owned(),
            Some(w) => format!(
                "walking the users' media statistics of the last {}",
                humantime::format_duration(w)
            ),
        };
        let mut walk = client.walk(WalkOptions {
            range,
            page_size,
            chunk: DEFAULT_CHUNK,
        });
        let mut done = false;
        while let Some(item) = walk.next().await {
            match item.with_context(|| what.clone())? {
                WalkChunk::Users(users) => eval.feed(range, &users)?,
                WalkChunk::Done(summary) => {
                    tracing::info!(
                        window_secs = window.map(|w| w.as_secs()),
                        pages = summary.pages,
                        users = summary.users,
                        repeats = summary.repeats,
                        "walk complete"
                    );
                    done = true;
                }
            }
        }
        if !done {
            bail!("{what}: the walk stopped before it was complete");
        }
    }
    if eval.needs_rooms() {
        match client.largest_rooms().await {
            Ok(rooms) => eval.rooms(&rooms),
            Err(SynapseError::RequiresPostgres { .. }) => eval.rooms_unavailable(
                "this Synapse uses SQLite, and Synapse estimates room sizes only on PostgreSQL",
            ),
            Err(e @ SynapseError::Server { .. }) => {
                tracing::warn!(error = %e, "room sizes unavailable");
                eval.rooms_unavailable(format!(
                    "Synapse could not estimate room sizes ({e}); on PostgreSQL this happens \
                     until its planner statistics cover the event tables"
                ))
            }
            Err(e) => return Err(e).context("getting the largest rooms"),
        }
    }
    Ok(eval.finish())
}
