//! The `synapse-warden` binary: only wiring. Parses the command line, sets
//! up logging to standard error, runs the command, and turns an error into a
//! message and exit status 2.

use std::process::ExitCode;

use clap::Parser as _;
use synapse_warden::app;
use synapse_warden::cli::{Cli, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(cli.command.default_log_filter()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(app::EXIT_ERROR);
        }
    };
    let result = runtime.block_on(app::run(cli));
    // Blocking tasks still running (a decode of an abandoned page) must not
    // hold the exit back.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(app::EXIT_ERROR)
        }
    }
}
