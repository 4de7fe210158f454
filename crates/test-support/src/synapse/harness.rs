//! [`SynapseHarness`]: one Synapse per test, its configuration, its
//! process (started, awaited, killed with the test process) and its
//! temporary directory.

use super::*;

/// A running Synapse, torn down on drop. See the [module docs](self).
pub struct SynapseHarness {
    pub(crate) backend: Backend,
    /// The Synapse release running (its virtualenv's).
    pub(crate) version: String,
    /// `None` once kept (or dropped).
    pub(crate) dir: Option<tempfile::TempDir>,
    pub(crate) dir_path: PathBuf,
    pub(crate) config_path: PathBuf,
    pub(crate) log_path: PathBuf,
    pub(crate) python: PathBuf,
    pub(crate) base_url: Url,
    pub(crate) http: reqwest::Client,
    pub(crate) child: Option<Child>,
    pub(crate) shared_secret: String,
    pub(crate) pg: Option<PgDatabase>,
    pub(crate) sqlite_path: Option<PathBuf>,
    pub(crate) startup: Duration,
    pub(crate) next_txn: AtomicU64,
    /// Extra top-level keys of `homeserver.yaml` (e.g. `modules`).
    pub(crate) extra_config: serde_json::Map<String, Value>,
}

impl fmt::Debug for SynapseHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SynapseHarness")
            .field("backend", &self.backend)
            .field("version", &self.version)
            .field("base_url", &self.base_url.as_str())
            .field("dir", &self.dir_path)
            .field("database", &self.pg.as_ref().map(|pg| &pg.name))
            .finish_non_exhaustive()
    }
}

impl SynapseHarness {
    /// Starts a fresh Synapse on `backend` and waits until it answers.
    ///
    /// Creates the virtualenv first if needed (about a minute, once).
    pub async fn start(backend: Backend) -> Result<Self> {
        Self::start_with(backend, serde_json::Map::new()).await
    }

    /// Starts Synapse as [`Self::start`] does, with extra top-level keys of
    /// `homeserver.yaml` (`modules`, `media_upload_limits`...).
    pub async fn start_with(
        backend: Backend,
        extra_config: serde_json::Map<String, Value>,
    ) -> Result<Self> {
        Self::start_version(&default_version(), backend, extra_config).await
    }

    /// Starts Synapse `version` (a `matrix-synapse` release on PyPI, e.g.
    /// [`OLDEST_SYNAPSE_VERSION`]) as [`Self::start_with`] does, from the
    /// virtualenv `<cache_dir>/synapse-<version>`, created first if needed
    /// (about a minute, once). Its rate limits are lifted as the pinned
    /// release's are (names it does not know are ignored by Synapse).
    pub async fn start_version(
        version: &str,
        backend: Backend,
        extra_config: serde_json::Map<String, Value>,
    ) -> Result<Self> {
        let started = Instant::now();
        let venv = ensure_venv_for(version).await?;
        let python = venv.join("bin").join("python");

        remove_stale_dirs_once();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .context("creating the Synapse temporary directory")?;
        let dir_path = dir.path().to_path_buf();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;

        // From here on, `Drop` cleans up whatever has been set up.
        let mut harness = SynapseHarness {
            backend,
            version: version.to_owned(),
            dir: Some(dir),
            config_path: dir_path.join("homeserver.yaml"),
            log_path: dir_path.join("synapse.log"),
            dir_path,
            python,
            base_url: Url::parse("http://127.0.0.1:0/").context("placeholder URL")?,
            http,
            child: None,
            shared_secret: String::new(),
            pg: None,
            sqlite_path: None,
            startup: Duration::ZERO,
            next_txn: AtomicU64::new(0),
            extra_config,
        };

        harness.generate_config().await?;
        match backend {
            Backend::Sqlite => {
                harness.sqlite_path = Some(harness.dir_path.join("homeserver.db"));
            }
            Backend::Postgres => {
                harness.pg = Some(create_pg_database().await?);
            }
        }

        // A free port can be taken by someone else between our probe and
        // Synapse's bind: retry with another one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            harness.write_config(port)?;
            harness.base_url = Url::parse(&format!("http://127.0.0.1:{port}/"))
                .context("building the base URL")?;
            harness.spawn()?;
            match harness.wait_ready().await {
                Ok(()) => break,
                Err(err) => {
                    harness.kill_child();
                    let log = tail_of_file(&harness.log_path, 60);
                    if attempt < 3 && log.contains("Address already in use") {
                        continue;
                    }
                    bail!(
                        "Synapse {version} on {backend} did not start: {err:#}\n\
                         last lines of {} (WARDEN_KEEP_SYNAPSE=1 keeps it):\n{log}",
                        harness.log_path.display()
                    );
                }
            }
        }
        harness.startup = started.elapsed();
        Ok(harness)
    }

    /// The database Synapse runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The Synapse release running, e.g. `1.163.2`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The homeserver's `server_name` ([`SERVER_NAME`]).
    pub fn server_name(&self) -> &str {
        SERVER_NAME
    }

    /// The edited `homeserver.yaml`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Synapse's stdout and stderr (its log, at INFO).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The instance's temporary directory.
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// The SQLite database file, on [`Backend::Sqlite`].
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// The PostgreSQL database's name, on [`Backend::Postgres`].
    pub fn pg_database(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.name.as_str())
    }

    /// Synapse's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How long [`Self::start`] took, virtualenv check included.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A plain HTTP client (60 s timeout) for requests of the test's own.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The last `lines` lines of Synapse's log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_of_file(&self.log_path, lines)
    }

    // ---- internals ----

    /// `--generate-config` into the temporary directory; reads the
    /// registration shared secret.
    pub(crate) async fn generate_config(&mut self) -> Result<()> {
        let output = tokio::process::Command::new(&self.python)
            .args([
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
            ])
            .arg(&self.config_path)
            .arg("--data-directory")
            .arg(&self.dir_path)
            .args(["--generate-config", "--report-stats=no"])
            .current_dir(&self.dir_path)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| {
                format!(
                    "running {} -m synapse.app.homeserver --generate-config",
                    self.python.display()
                )
            })?;
        ensure!(
            output.status.success(),
            "synapse --generate-config failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let text = fs::read_to_string(&self.config_path)
            .with_context(|| format!("reading the generated {}", self.config_path.display()))?;
        let config: serde_json::Map<String, Value> = serde_saphyr::from_str(&text)
            .with_context(|| format!("parsing the generated {}", self.config_path.display()))?;
        self.shared_secret = config
            .get("registration_shared_secret")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the generated config has no registration_shared_secret"))?
            .to_owned();
        Ok(())
    }

    /// Edits `homeserver.yaml` for tests, listening on `port`.
    pub(crate) fn write_config(&self, port: u16) -> Result<()> {
        let text = fs::read_to_string(&self.config_path)
            .with_context(|| format!("reading {}", self.config_path.display()))?;
        let mut config: serde_json::Map<String, Value> = serde_saphyr::from_str(&text)
            .with_context(|| format!("parsing {}", self.config_path.display()))?;
        let dir = self.dir_path.to_string_lossy().into_owned();

        let log_config = self.dir_path.join("log.config");
        fs::write(&log_config, LOG_CONFIG)
            .with_context(|| format!("writing {}", log_config.display()))?;

        let mut set = |key: &str, value: Value| -> Result<()> {
            config.insert(key.to_owned(), value);
            Ok(())
        };
        set(
            "listeners",
            json!([{
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": false,
                "x_forwarded": false,
                "resources": [{ "names": ["client"], "compress": false }],
            }]),
        )?;
        set("log_config", json!(log_config.to_string_lossy()))?;
        set("pid_file", json!(format!("{dir}/homeserver.pid")))?;
        set("media_store_path", json!(format!("{dir}/media_store")))?;
        set("trusted_key_servers", json!([]))?;
        set("suppress_key_server_warning", json!(true))?;
        set("report_stats", json!(false))?;
        set("enable_metrics", json!(false))?;
        set("enable_registration", json!(false))?;
        set("presence", json!({ "enabled": false }))?;
        set("max_upload_size", json!("1G"))?;
        set("url_preview_enabled", json!(false))?;
        set("database", self.database_config()?)?;

        let lifted = json!({ "per_second": 1000, "burst_count": 1000 });
        let mut limits = serde_json::Map::new();
        for name in LIFTED_RATE_LIMITS {
            match name.split_once('.') {
                None => {
                    limits.insert((*name).to_owned(), lifted.clone());
                }
                Some((outer, inner)) => {
                    let entry = limits.entry(outer.to_owned()).or_insert_with(|| json!({}));
                    if let Some(map) = entry.as_object_mut() {
                        map.insert(inner.to_owned(), lifted.clone());
                    }
                }
            }
        }
        for (name, value) in limits {
            set(&name, value)?;
        }
        for (name, value) in &self.extra_config {
            set(name, value.clone())?;
        }

        let text = serde_saphyr::to_string(&config).context("serializing homeserver.yaml")?;
        fs::write(&self.config_path, text)
            .with_context(|| format!("writing {}", self.config_path.display()))
    }

    pub(crate) fn database_config(&self) -> Result<Value> {
        Ok(match (&self.pg, &self.sqlite_path) {
            (Some(pg), _) => {
                let url = &pg.url;
                json!({
                    "name": "psycopg2",
                    "txn_limit": 10000,
                    "args": {
                        "user": percent_decode(url.username()),
                        "password": percent_decode(url.password().unwrap_or("")),
                        "dbname": pg.name,
                        "host": url.host_str().unwrap_or("127.0.0.1"),
                        "port": url.port().unwrap_or(5432),
                        "cp_min": 1,
                        "cp_max": 5,
                    },
                })
            }
            (None, Some(path)) => json!({
                "name": "sqlite3",
                "args": { "database": path.to_string_lossy() },
            }),
            (None, None) => bail!("no database configured"),
        })
    }

    /// Starts Synapse in the foreground, output to the log file.
    pub(crate) fn spawn(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let log_err = log.try_clone().context("duplicating the log file handle")?;
        let mut command = Command::new(&self.python);
        // The virtualenv is shared by every checkout on the machine, and
        // each installs its own `synapse-module/` into it
        // ([`ensure_quota_module`]): this checkout's module comes first on
        // Synapse's path, whichever was installed last.
        let mut python_path = vec![quota_module_source()];
        python_path.extend(
            std::env::var_os("PYTHONPATH")
                .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        command
            .env(
                "PYTHONPATH",
                std::env::join_paths(python_path).context("building PYTHONPATH")?,
            )
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&self.config_path)
            .current_dir(&self.dir_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: between fork and exec this only calls prctl, getppid
            // and _exit, which are async-signal-safe, and touches no locks.
            let parent = std::process::id() as libc::pid_t;
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The parent died before prctl: nobody will clean up.
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        let child = spawn_from_keeper_thread(command).with_context(|| {
            format!(
                "starting {} -m synapse.app.homeserver",
                self.python.display()
            )
        })?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls `GET /_synapse/admin/v1/server_version` until it answers 200.
    pub(crate) async fn wait_ready(&mut self) -> Result<()> {
        let url = self.url(&["_synapse", "admin", "v1", "server_version"], &[]);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("checking on Synapse")?
            {
                self.child = None;
                bail!("Synapse exited ({status}) before answering");
            }
            let answer = self
                .http
                .get(url.clone())
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = answer
                && response.status() == StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("Synapse did not answer GET {url} within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SynapseHarness {
    fn drop(&mut self) {
        self.kill_child();
        let keep = std::env::var("WARDEN_KEEP_SYNAPSE").is_ok_and(|v| v == "1");
        if keep {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                eprintln!(
                    "WARDEN_KEEP_SYNAPSE=1: kept Synapse ({}) in {}{}; restart it with\n  {} -m synapse.app.homeserver -c {}",
                    self.backend,
                    path.display(),
                    self.pg
                        .as_ref()
                        .map(|pg| format!(" and database {}", pg.name))
                        .unwrap_or_default(),
                    self.python.display(),
                    self.config_path.display(),
                );
            }
            return;
        }
        if let Some(pg) = self.pg.take()
            && let Err(err) = drop_pg_database_blocking(&pg.admin_url, &pg.name)
        {
            eprintln!(
                "synapse harness: could not drop database {}: {err:#}",
                pg.name
            );
        }
        if let Some(dir) = self.dir.take()
            && let Err(err) = dir.close()
        {
            eprintln!(
                "synapse harness: could not remove {}: {err}",
                self.dir_path.display()
            );
        }
    }
}

/// Synapse logs to stderr (redirected to the log file), at INFO.
pub(crate) const LOG_CONFIG: &str = r#"version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
loggers:
  synapse.storage.SQL:
    level: INFO
root:
  level: INFO
  handlers: [console]
disable_existing_loggers: false
"#;

/// Spawns `command` from a thread that lives as long as the process, so that
/// `PR_SET_PDEATHSIG` (which follows the spawning thread) fires only when
/// the test process dies. Falls back to spawning here if that thread can't
/// be had.
pub(crate) fn spawn_from_keeper_thread(mut command: Command) -> std::io::Result<Child> {
    type Job = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("synapse-spawner".into())
            .spawn(move || {
                for (mut command, reply) in receiver {
                    let _ = reply.send(command.spawn());
                }
            })
            .ok()
            .map(|_| jobs)
    });
    let Some(jobs) = keeper else {
        return command.spawn();
    };
    let (reply, answer) = std::sync::mpsc::channel();
    match jobs.send((command, reply)) {
        Ok(()) => answer
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread is gone"))),
        Err(std::sync::mpsc::SendError((mut command, _))) => command.spawn(),
    }
}

/// The `modules` key of `homeserver.yaml` that loads the warden's Synapse
/// module (`synapse_warden_quota.WardenQuota`, see [`ensure_quota_module`])
/// with `secret_path`, for [`SynapseHarness::start_with`]. Its upload half
/// points at a warden that is not there (a free port: it fails open); its
/// channel (room sizes, users' media) needs nothing of it.
pub fn warden_module_config(secret_path: &Path) -> Result<serde_json::Map<String, Value>> {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "modules".into(),
        serde_json::json!([{
            "module": "synapse_warden_quota.WardenQuota",
            "config": {
                "warden_url": format!("http://127.0.0.1:{}", free_port()?),
                "secret_path": secret_path.display().to_string(),
                "timeout": "1s",
            },
        }]),
    );
    Ok(extra)
}
