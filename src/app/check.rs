//! `synapse-warden check`: one run of every rule against Synapse.
//!
//! Reads the policy file and the admin token, runs every rule once (see
//! [`crate::synapse::evaluate`]: Synapse on SQLite, or its known 500 for room
//! sizes, become a note and the media rules still decide), and prints the
//! violations. Any other failure is an error (exit status 2): a run that
//! could not look at everything does not say "clean". A walk cut short even
//! after its retry (Synapse's `next_token` not advancing, an empty page
//! before `total`) prints what was seen, then names the cause on standard
//! error, and exits 2: never 0 or 1.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::{EXIT_ERROR, EXIT_OK, EXIT_VIOLATIONS, bold_terminal, synapse_client, valid_policy};
use crate::cli::{CheckArgs, OutputFormat};
use crate::core::engine::eval::RunOutcome;
use crate::core::policy::Config;
use crate::core::text::check_report;
use crate::synapse::SynapseClient;
use crate::synapse::evaluate;

/// Runs `check` with the policy file at `path`.
pub async fn run(path: &Path, args: &CheckArgs) -> Result<ExitCode> {
    let Some(config) = valid_policy(path)? else {
        return Ok(ExitCode::from(EXIT_ERROR));
    };
    let client = synapse_client(&config)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_millis();
    let now_ms = u64::try_from(now_ms).context("the system clock is too far in the future")?;
    let outcome = evaluate(&client, &config, now_ms).await?;
    // Streamed: the report of tens of thousands of violations is written as
    // it is rendered, never held whole.
    match write_report(&outcome, args.format) {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the report");
        }
        _ => {}
    }
    if args.notify {
        let planned =
            crate::core::alerting::server_notices::preview(&outcome.violations, &|rule| {
                config.rules.notify_user(rule)
            });
        let text = crate::core::text::server_notices::preview(&planned).terminal(bold_terminal());
        match args.format {
            OutputFormat::Text => println!("\n{text}"),
            OutputFormat::Json => eprintln!("{text}"),
        }
    }
    if let Some(cause) = outcome.incomplete_cause() {
        eprintln!("{}", incomplete_error(&cause));
        return Ok(ExitCode::from(EXIT_ERROR));
    }
    Ok(ExitCode::from(if outcome.is_clean() {
        EXIT_OK
    } else {
        EXIT_VIOLATIONS
    }))
}

/// Writes the report to standard output as it is rendered.
fn write_report(outcome: &RunOutcome, format: OutputFormat) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        OutputFormat::Text => {
            for chunk in check_report::text_chunks(outcome, bold_terminal()) {
                out.write_all(chunk.as_bytes())?;
            }
        }
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &check_report::json_document(outcome))
                .map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()
}

/// What `check` says on standard error after a partial run.
fn incomplete_error(cause: &str) -> String {
    format!(
        "error: the run is incomplete: {cause}. The violations above are real, but users the walk did not reach were not checked."
    )
}

/// One run of the policy's rules against Synapse at `now_ms`.
pub async fn evaluate(client: &SynapseClient, config: &Config, now_ms: u64) -> Result<RunOutcome> {
    let report = match evaluate::evaluate(client, config, now_ms, |_, _, _| {}).await {
        Ok(report) => report,
        // A 403 under MAS: what the token lacks, and how to get one.
        Err(error)
            if matches!(
                error.synapse(),
                Some(crate::synapse::SynapseError::NotAdmin { .. })
            ) && matches!(client.delegated_auth().await, Ok(Some(_))) =>
        {
            anyhow::bail!(
                "{error}{}",
                crate::core::text::daemon::not_admin_under_mas()
            )
        }
        Err(error) => return Err(error.into()),
    };
    let mut outcome = report.outcome;
    let broad = crate::core::engine::too_broad::too_broad(
        &outcome,
        &config.rules.user_media,
        config.alerts.too_broad_at,
    );
    for b in &broad {
        let note = crate::core::doc::Doc::paragraph(crate::core::text::check::too_broad(b));
        outcome.notes.push(note.plain());
    }
    Ok(outcome)
}
