//! The virtualenvs: Synapse installed once per version, under a lock, and
//! the Synapse module of this repository installed into it. The pinned
//! [`SYNAPSE_VERSION`] is the default; [`OLDEST_SYNAPSE_VERSION`] (and any
//! other release) gets a virtualenv of its own beside it.

use super::*;

/// `$SYNAPSE_WARDEN_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/synapse-warden`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SYNAPSE_WARDEN_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .ok_or_else(|| {
                    anyhow!("neither SYNAPSE_WARDEN_CACHE, XDG_CACHE_HOME nor HOME is set")
                })?,
        )
        .join(".cache"),
    };
    Ok(base.join("synapse-warden"))
}

/// The default Synapse's virtualenv ([`default_version`]):
/// `<cache_dir>/synapse-<version>`.
pub fn venv_dir() -> Result<PathBuf> {
    venv_dir_for(&default_version())
}

/// The virtualenv of Synapse `version`: `<cache_dir>/synapse-<version>`.
pub fn venv_dir_for(version: &str) -> Result<PathBuf> {
    ensure!(
        !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.'),
        "{version:?} is not a Synapse release such as {SYNAPSE_VERSION}"
    );
    Ok(cache_dir()?.join(format!("synapse-{version}")))
}

/// The virtualenvs found ready in this process, by Synapse version.
pub(crate) static VENVS: tokio::sync::Mutex<Vec<(String, PathBuf)>> =
    tokio::sync::Mutex::const_new(Vec::new());

/// Returns the default Synapse's virtualenv ([`default_version`]), creating
/// it first if needed. See [`ensure_venv_for`].
pub async fn ensure_venv() -> Result<PathBuf> {
    ensure_venv_for(&default_version()).await
}

/// Returns the virtualenv of Synapse `version`, creating it first if
/// needed. Safe to call from many tests at once (a process-wide mutex) and
/// from many processes at once (an exclusive `flock` on `<venv>.lock`,
/// which `scripts/test` takes too). A virtualenv counts as ready once it
/// holds the marker file `.synapse-warden-ready`; one without it (made by
/// hand, or interrupted) is checked by importing Synapse, and reinstalled if
/// that fails.
pub async fn ensure_venv_for(version: &str) -> Result<PathBuf> {
    let mut ready = VENVS.lock().await;
    if let Some((_, venv)) = ready.iter().find(|(v, _)| v == version) {
        return Ok(venv.clone());
    }
    let venv = venv_dir_for(version)?;
    let owned = version.to_owned();
    let venv =
        tokio::task::spawn_blocking(move || ensure_venv_blocking(&venv, &owned).map(|()| venv))
            .await
            .context("the virtualenv installer panicked")??;
    ready.push((version.to_owned(), venv.clone()));
    Ok(venv)
}

pub(crate) fn ensure_venv_blocking(venv: &Path, version: &str) -> Result<()> {
    if venv.join(VENV_MARKER).exists() {
        return Ok(());
    }
    let parent = venv
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", venv.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let sibling = |suffix: &str| {
        let mut name = venv.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        venv.with_file_name(name)
    };
    let lock_path = sibling(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    // Another process may have finished while we waited for the lock; a
    // virtualenv made by hand (or by an older harness) gets checked once.
    if venv.join(VENV_MARKER).exists() || venv_works(venv, version) {
        return mark_venv_ready(venv, version);
    }
    if venv.exists() {
        fs::remove_dir_all(venv)
            .with_context(|| format!("removing the broken virtualenv {}", venv.display()))?;
    }
    let python = std::env::var_os("SYNAPSE_WARDEN_PYTHON").unwrap_or_else(|| "python3".into());
    let log_path = sibling(".install.log");
    eprintln!(
        "synapse harness: installing matrix-synapse[postgres]=={version} into {} (about a minute; log in {})",
        venv.display(),
        log_path.display()
    );
    let mut log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let steps: [(PathBuf, Vec<String>); 2] = [
        (
            PathBuf::from(&python),
            vec![
                "-m".into(),
                "venv".into(),
                venv.to_string_lossy().into_owned(),
            ],
        ),
        (
            venv.join("bin").join("pip"),
            vec![
                "install".into(),
                "--disable-pip-version-check".into(),
                "--no-input".into(),
                format!("matrix-synapse[postgres]=={version}"),
            ],
        ),
    ];
    for (program, args) in steps {
        let _ = writeln!(log, "$ {} {}", program.display(), args.join(" "));
        let status = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .context("duplicating the install log handle")?,
            )
            .stderr(
                log.try_clone()
                    .context("duplicating the install log handle")?,
            )
            .status()
            .with_context(|| {
                format!(
                    "running {} (set SYNAPSE_WARDEN_PYTHON to another python3?)",
                    program.display()
                )
            })?;
        if !status.success() {
            bail!(
                "{} {} failed ({status}); last lines of {}:\n{}",
                program.display(),
                args.join(" "),
                log_path.display(),
                tail_of_file(&log_path, 30)
            );
        }
    }
    ensure!(
        venv_works(venv, version),
        "the new virtualenv {} cannot import Synapse {version}; see {}",
        venv.display(),
        log_path.display()
    );
    mark_venv_ready(venv, version)
}

/// Installs the checkout's Synapse module (`synapse-module/`,
/// `synapse_warden_quota`) into the default Synapse's virtualenv
/// ([`default_version`]). See [`ensure_quota_module_for`].
pub async fn ensure_quota_module() -> Result<PathBuf> {
    ensure_quota_module_for(&default_version()).await
}

/// Installs the checkout's Synapse module into the virtualenv of Synapse
/// `version` (created first if needed), unless this version of its sources
/// is installed already (a marker named after their SHA-1). Under the
/// virtualenv's lock, like its creation. Other checkouts on the machine
/// share the virtualenv and install theirs: a Synapse of the harness imports
/// the module from this checkout's `synapse-module/` first (`PYTHONPATH`),
/// whichever is installed.
pub async fn ensure_quota_module_for(version: &str) -> Result<PathBuf> {
    /// The Synapse versions whose virtualenv got the module in this process.
    static DONE: tokio::sync::Mutex<Vec<String>> = tokio::sync::Mutex::const_new(Vec::new());
    let venv = ensure_venv_for(version).await?;
    let mut done = DONE.lock().await;
    if !done.iter().any(|v| v == version) {
        let v = venv.clone();
        tokio::task::spawn_blocking(move || install_quota_module(&v))
            .await
            .context("the module installer panicked")??;
        done.push(version.to_owned());
    }
    Ok(venv)
}

/// `synapse-module/` of this checkout (this crate is its
/// `crates/test-support`).
pub fn quota_module_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../synapse-module")
}

pub(crate) fn install_quota_module(venv: &Path) -> Result<()> {
    let source = quota_module_source();
    let mut files = vec![source.join("pyproject.toml")];
    for entry in fs::read_dir(source.join("synapse_warden_quota"))
        .with_context(|| format!("reading {}", source.display()))?
    {
        files.push(entry?.path());
    }
    files.sort();
    let mut hasher = <Sha1 as sha1::Digest>::new();
    for f in &files {
        if f.is_file() {
            sha1::Digest::update(&mut hasher, fs::read(f)?);
        }
    }
    let hash = hex::encode(sha1::Digest::finalize(hasher));
    let marker = venv.join(format!(".synapse-warden-quota-{}", &hash[..16]));
    if marker.exists() {
        return Ok(());
    }
    let mut lock_name = venv.file_name().unwrap_or_default().to_os_string();
    lock_name.push(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(venv.with_file_name(lock_name))
        .context("opening the virtualenv's lock")?;
    lock.lock().context("locking the virtualenv")?;
    if marker.exists() {
        return Ok(());
    }
    let output = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
            "--force-reinstall",
        ])
        .arg(&source)
        .stdin(Stdio::null())
        .output()
        .context("running pip install ./synapse-module")?;
    ensure!(
        output.status.success(),
        "pip install ./synapse-module failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if let Ok(entries) = fs::read_dir(venv) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(".synapse-warden-quota-")
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    fs::write(&marker, "synapse-warden-quota from the checkout\n")
        .with_context(|| format!("writing {}", marker.display()))
}

pub(crate) fn venv_works(venv: &Path, version: &str) -> bool {
    let check = format!(
        "import sys, synapse, synapse.app.homeserver, psycopg2; sys.exit(0 if synapse.__version__ == {version:?} else 3)"
    );
    Command::new(venv.join("bin").join("python"))
        .args(["-c", &check])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub(crate) fn mark_venv_ready(venv: &Path, version: &str) -> Result<()> {
    let marker = venv.join(VENV_MARKER);
    fs::write(&marker, format!("matrix-synapse[postgres]=={version}\n"))
        .with_context(|| format!("writing {}", marker.display()))
}
