//! SQLite: SQL on the instance's database file through Synapse's own
//! Python; SQL on whichever backend the instance runs.

use super::*;

impl SynapseHarness {
    /// Runs SQL in the instance's SQLite database, with the `sqlite3` CLI if
    /// installed and else Python's `sqlite3` module; output as [`Self::psql`].
    pub async fn sqlite(&self, sql: &str) -> Result<String> {
        let path = self.sqlite_path.as_deref().ok_or_else(|| {
            anyhow!(
                "sqlite() needs the SQLite backend; this harness runs {}",
                self.backend
            )
        })?;
        run_sqlite(&self.python, path, sql).await
    }

    /// Runs SQL on whichever database this instance uses.
    pub async fn sql(&self, sql: &str) -> Result<String> {
        match self.backend {
            Backend::Sqlite => self.sqlite(sql).await,
            Backend::Postgres => self.psql(sql).await,
        }
    }
}

/// Python fallback when the `sqlite3` CLI is missing: runs each statement,
/// printing rows like `sqlite3 -list`.
pub(crate) const SQLITE_PY: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
buf = ""
for line in sys.stdin.read().splitlines(keepends=True):
    buf += line
    if sqlite3.complete_statement(buf):
        for row in db.execute(buf):
            print("|".join("" if v is None else str(v) for v in row))
        buf = ""
if buf.strip():
    for row in db.execute(buf):
        print("|".join("" if v is None else str(v) for v in row))
"#;

pub(crate) async fn run_sqlite(python: &Path, path: &Path, sql: &str) -> Result<String> {
    let cli = which("sqlite3");
    let mut command = match &cli {
        Some(cli) => {
            let mut command = tokio::process::Command::new(cli);
            command
                .args(["-batch", "-bail", "-cmd", ".timeout 60000"])
                .arg(path);
            command
        }
        None => {
            let mut command = tokio::process::Command::new(python);
            command.args(["-c", SQLITE_PY]).arg(path);
            command
        }
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "running {}",
                if cli.is_some() {
                    "sqlite3"
                } else {
                    "python3 (sqlite3 module)"
                }
            )
        })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("sqlite3 has no stdin"))?;
    let sql = sql.to_owned();
    let writer = tokio::spawn(async move {
        let result = stdin.write_all(sql.as_bytes()).await;
        drop(stdin);
        result
    });
    let output = child
        .wait_with_output()
        .await
        .context("waiting for sqlite3")?;
    let written = writer.await.context("the sqlite3 stdin writer panicked")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The CLI can exit 0 after an error in batch mode: stderr tells.
    ensure!(
        output.status.success() && stderr.trim().is_empty(),
        "SQL on {} failed ({}): {}",
        path.display(),
        output.status,
        stderr.trim()
    );
    written.context("writing SQL to sqlite3")?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned())
}

pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
