//! The edge layer: the commands, doing the I/O around the pure core —
//! reading the policy file and secrets, talking to Synapse, printing.
//!
//! - [`validate`], [`check`], [`run`] (the daemon), [`healthcheck`]: one
//!   file per subcommand.
//! - [`answer`]: the commands of the bot, answered for the admin room and
//!   for `synapse-warden stats WORDS...`; [`actions`], its clean-up
//!   commands.
//!
//! Each command returns the process exit status; an `Err` is an error the
//! caller prints, exiting with [`EXIT_ERROR`].

pub mod actions;
pub mod answer;
pub mod check;
pub mod context;
pub mod healthcheck;
mod room_actions;
pub mod run;
pub mod trend;
pub mod validate;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::{Cli, Command};
use crate::core::policy::{self, Config, PolicyError, SecretSource};
use crate::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient, TokenSource};

/// Success; for `check`, no violation.
pub const EXIT_OK: u8 = 0;
/// `check` found violations.
pub const EXIT_VIOLATIONS: u8 = 1;
/// The command could not do its job.
pub const EXIT_ERROR: u8 = 2;

/// Runs the command of `cli`.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Validate(_) => validate::run(&cli.config),
        Command::Check(args) => check::run(&cli.config, args).await,
        Command::Healthcheck(args) => healthcheck::run(&cli.config, args).await,
        Command::Stats(args) => answer::run(&cli.config, &args.words).await,
        Command::Run(_) => run::run(&cli.config).await,
    }
}

/// Reads and parses the policy file. The outer error is I/O (the file
/// cannot be read); the inner one the file's problems.
pub fn load_policy(path: &Path) -> Result<Result<Config, PolicyError>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))?;
    Ok(policy::parse(&path.display().to_string(), &text))
}

/// Reads the policy file for a command that needs a valid one: `None` when
/// the file is invalid, its problems printed to standard error (the command
/// then exits with [`EXIT_ERROR`]).
pub fn valid_policy(path: &Path) -> Result<Option<Config>> {
    Ok(match load_policy(path)? {
        Ok(config) => Some(config),
        Err(errors) => {
            eprint!("{}", errors.report());
            None
        }
    })
}

/// A Synapse client for the policy's `synapse` section, with the admin token
/// read from where the section says, and the secret shared with the
/// warden's Synapse module (`http.module_secret`) when there is one: the
/// module gives room sizes where Synapse's own estimate fails.
pub fn synapse_client(config: &Config) -> Result<SynapseClient> {
    let token = read_secret(
        &config.synapse.token,
        "the Synapse admin token (synapse.token)",
    )?;
    let mut client = SynapseClient::new(ClientConfig {
        base_url: config.synapse.url.clone(),
        token: AdminToken::new(token),
        timeout: config.synapse.timeout,
        retry: RetryPolicy::default(),
    })?
    .with_token_source(std::sync::Arc::new(SecretToken(
        config.synapse.token.clone(),
    )));
    if let Some(source) = &config.http.module_secret {
        let secret = read_secret(source, "the quota module's secret (http.module_secret)")?;
        client = client.with_module_secret(crate::synapse::client::ModuleSecret::new(secret));
    }
    Ok(client)
}

/// The admin token read again from where the policy says it is, when
/// Synapse no longer knows the one in use (a rotated token: a new one
/// written to the file or set in the environment is used without a restart).
#[derive(Debug)]
struct SecretToken(SecretSource);

impl TokenSource for SecretToken {
    fn current(&self) -> Option<AdminToken> {
        match read_secret(&self.0, "the Synapse admin token (synapse.token)") {
            Ok(token) => Some(AdminToken::new(token)),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot read the admin token again");
                None
            }
        }
    }
}

/// Whether the terminal rendering may use ANSI bold: stdout is a terminal
/// and `NO_COLOR` is not set.
pub fn bold_terminal() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Reads a secret from where the policy file says it is. Errors say where
/// it was looked for, never what was found.
pub fn read_secret(source: &SecretSource, what: &str) -> Result<String> {
    let secret = match source {
        SecretSource::Env(name) => match std::env::var(name) {
            Ok(value) => value,
            Err(std::env::VarError::NotPresent) => {
                bail!("{what}: the environment variable {name} is not set")
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!("{what}: the environment variable {name} is not valid UTF-8")
            }
        },
        SecretSource::File(path) => std::fs::read_to_string(path)
            .with_context(|| format!("{what}: cannot read {}", path.display()))?,
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!("{what}: the {source} is empty");
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_from_files_are_trimmed_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  syt_secret\n").unwrap();
        let source = SecretSource::File(path.clone());
        assert_eq!(read_secret(&source, "the token").unwrap(), "syt_secret");

        std::fs::write(&path, "\n").unwrap();
        let err = read_secret(&source, "the token").unwrap_err().to_string();
        assert!(err.ends_with("is empty"), "{err}");

        let missing = SecretSource::File(dir.path().join("nope"));
        let err = format!("{:#}", read_secret(&missing, "the token").unwrap_err());
        assert!(err.starts_with("the token: cannot read "), "{err}");

        let unset = SecretSource::Env("SYNAPSE_WARDEN_TEST_SURELY_UNSET_VARIABLE".into());
        let err = read_secret(&unset, "the token").unwrap_err().to_string();
        assert_eq!(
            err,
            "the token: the environment variable SYNAPSE_WARDEN_TEST_SURELY_UNSET_VARIABLE is not set"
        );
    }
}
