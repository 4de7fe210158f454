//! `synapse-warden healthcheck`: asks a running daemon's `/health`, for
//! container HEALTHCHECKs in images that have no curl.
//!
//! The address comes from the policy file's `http.listen` (an unspecified
//! address such as `0.0.0.0` is asked on loopback), or from `--url`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use super::load_policy;
use crate::cli::HealthcheckArgs;

/// Runs `healthcheck`: exit 0 when `/health` answers 200, 1 otherwise.
pub async fn run(path: &Path, args: &HealthcheckArgs) -> Result<ExitCode> {
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let config = load_policy(path)?.map_err(|e| anyhow::anyhow!("{}", e.report()))?;
            health_url(config.http.listen)
        }
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            eprintln!("{url} answered {}", r.status());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("{url}: {}", e.without_url());
            Ok(ExitCode::from(1))
        }
    }
}

/// `/health` at `listen`, asked on loopback when `listen` is unspecified.
pub fn health_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/health", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        assert_eq!(
            health_url("0.0.0.0:9655".parse().unwrap()),
            "http://127.0.0.1:9655/health"
        );
        assert_eq!(
            health_url("[::]:9655".parse().unwrap()),
            "http://[::1]:9655/health"
        );
        assert_eq!(
            health_url("10.1.2.3:80".parse().unwrap()),
            "http://10.1.2.3:80/health"
        );
    }
}
