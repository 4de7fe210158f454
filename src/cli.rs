//! The command line: global options and one subcommand per task.
//!
//! ```text
//! synapse-warden [--config FILE] [--log-format human|json] <COMMAND>
//!   validate                      check the policy file, print every error
//!   check [--format text|json] [--notify]
//!                                 one run against Synapse, print violations
//!   healthcheck [--url URL]       ask a running daemon's /health (for containers)
//!   run                           the daemon: schedule, alerts, bot, /health /ready /metrics
//!   stats WORDS...                the bot's commands in the terminal: `stats top 10 media_length`
//! ```
//!
//! Exit statuses: 0 success (for `check`: no violation), 1 violations found
//! (`check`), 2 errors (bad policy file, Synapse unreachable or refusing,
//! bad usage). New subcommands are new variants of [`Command`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps a Synapse homeserver inside its storage policies.
#[derive(Debug, Parser)]
#[command(
    name = "synapse-warden",
    version,
    about,
    long_about = "Keeps a Synapse homeserver inside its storage policies: walks Synapse's \
                  media statistics and largest rooms, checks them against the rules of a YAML \
                  policy file, and reports who and what is over.",
    after_help = "Exit status: 0 success, 1 violations found (check), 2 errors.\n\
                  See policies.example.yaml for every key of the policy file."
)]
pub struct Cli {
    /// The policy file.
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "FILE",
        env = "SYNAPSE_WARDEN_CONFIG",
        default_value = "policies.yaml"
    )]
    pub config: PathBuf,

    /// Format of the log lines written to standard error (RUST_LOG sets
    /// their level).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "SYNAPSE_WARDEN_LOG_FORMAT",
        default_value_t = LogFormat::Human
    )]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the policy file and print every error in it, with its line and
    /// column. Exit status 0 when valid, 2 otherwise.
    Validate(ValidateArgs),
    /// Run every rule once against Synapse and print the violations: a table
    /// for people or JSON for scripts. Exit status 0 when there is none, 1
    /// when there are violations, 2 on errors. Meant for cron or CI.
    Check(CheckArgs),
    /// Ask a running daemon whether it is alive: GET its /health (at the
    /// policy file's `http.listen`, or --url). Exit status 0 when it answers
    /// 200, 1 otherwise. For container HEALTHCHECKs in images without curl.
    Healthcheck(HealthcheckArgs),
    /// Answer one of the bot's commands in the terminal, with the same
    /// grammar and the same answer as `!stats` in the admin room, e.g.
    /// `stats top 10 media_length`, `stats top 5 media_count 7d`,
    /// `stats user @alice:example.org`, `stats rooms`, `stats help`.
    /// `stats purge @u:hs older-than 90d` previews a clean-up; add `--yes`
    /// to carry it out (needs `actions.enabled: true`).
    /// Exit status 0, or 2 on a bad command or an error.
    Stats(StatsArgs),
    /// Run the daemon: check the policies on the schedule, post alerts to
    /// the admin room and answer `!stats` commands there; serve /health,
    /// /ready and /metrics. SIGHUP re-reads the policy file; SIGTERM or
    /// SIGINT stop it within 10 seconds.
    Run(RunArgs),
}

impl Command {
    /// Log level when RUST_LOG is not set.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Validate(_)
            | Command::Check(_)
            | Command::Healthcheck(_)
            | Command::Stats(_) => "warn",
            // matrix-sdk logs expected 404s (account data not set yet) as
            // errors, and missing key backups as warnings: keep its errors
            // only, and none of its HTTP client's.
            Command::Run(_) => {
                "info,matrix_sdk=error,matrix_sdk::http_client=off,matrix_sdk_crypto=error,matrix_sdk_base=error"
            }
        }
    }
}

/// Options of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {}

/// Options of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// How to print the violations.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Also show which users `notify_user` would send a server notice to,
    /// and the text; nothing is sent (on standard error with --format json).
    #[arg(long)]
    pub notify: bool,
}

/// Options of `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to ask, instead of the one derived from `http.listen`.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {}

/// Options of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The command and its arguments, as after `!stats` in the admin room;
    /// none for help.
    #[arg(
        value_name = "WORDS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub words: Vec<String>,
}

/// How `check` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table with humanized sizes, then a summary.
    Text,
    /// A JSON document with a stable schema.
    Json,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_global_options_anywhere() {
        let cli = Cli::try_parse_from([
            "synapse-warden",
            "check",
            "--format",
            "json",
            "--config",
            "p.yaml",
        ])
        .unwrap();
        assert_eq!(cli.config, PathBuf::from("p.yaml"));
        assert!(matches!(
            cli.command,
            Command::Check(CheckArgs {
                format: OutputFormat::Json,
                notify: false,
            })
        ));
        let cli =
            Cli::try_parse_from(["synapse-warden", "--log-format", "json", "validate"]).unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["synapse-warden", "check", "--format", "xml"]).is_err());
    }
}
