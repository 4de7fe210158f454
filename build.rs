//! Records the git commit of the build for `synapse_warden_build_info`:
//! `SYNAPSE_WARDEN_COMMIT` when set (the Dockerfile passes it, a container
//! build having no `.git`), else `git rev-parse HEAD`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SYNAPSE_WARDEN_COMMIT");
    // Rebuild when the commit moves (worktrees keep HEAD elsewhere).
    for file in ["HEAD", "refs/heads", "packed-refs"] {
        if let Some(path) =
            git(&["rev-parse", "--git-path", file]).filter(|p| std::path::Path::new(p).exists())
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("SYNAPSE_WARDEN_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // Only what a label value may safely hold.
    let commit: String = commit
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(64)
        .collect();
    println!("cargo:rustc-env=SYNAPSE_WARDEN_COMMIT={commit}");
}

/// What `git ARGS` prints, when git is there and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}
