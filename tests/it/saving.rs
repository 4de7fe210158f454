//! Saving the state fails (a full disk, a read-only file system): the
//! daemon goes on — runs, alerts and their delivery, the outbox kept in
//! memory — `/ready` answers 503 with the reason, the admins are told once,
//! and once a save works again that is said once, `/ready` answers 200 and
//! the file holds everything that happened meanwhile.
//!
//! Once with an injected store that fails on demand, once on a real full
//! file system (a 64 KiB tmpfs, mounted where the machine allows it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use synapse_warden::daemon::http::{Endpoints, serve};
use synapse_warden::daemon::metrics::Metrics;
use synapse_warden::daemon::service::Daemon;
use synapse_warden::daemon::shared::Readiness;
use synapse_warden::daemon::state::DaemonState;
use synapse_warden::daemon::store::{JsonStore, StateStore, StoreError};

use crate::daemon::{Fixture, QUOTA, count};
use test_support::fake::{Dataset, Db, FakeSynapse};

const KIB: u64 = 1024;
const FAILING: &str = "cannot save my state";
const BACK: &str = "my state is saved again";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Alice is over the 4 KiB quota (5 KiB).
fn dataset() -> Dataset {
    let t = now_ms() - 3_600_000;
    Dataset::builder()
        .user("@alice:test", Some("Alice"), &[(t, Some(5 * KIB))])
        .user("@bob:test", Some("Bob"), &[(t, Some(KIB))])
}

/// The state file that fails while `failing` is set, as a full disk does.
#[derive(Debug)]
struct Flaky {
    file: JsonStore,
    failing: AtomicBool,
}

impl StateStore for Flaky {
    fn write(&self, bytes: &[u8]) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Io {
                path: self.file.path().to_owned(),
                source: std::io::Error::from_raw_os_error(libc::ENOSPC),
            });
        }
        self.file.write(bytes)
    }
}

/// What `/ready` answers: its status and reasons.
type Ready = std::pin::Pin<Box<dyn Future<Output = (u16, Vec<String>)>>>;

/// `/ready` of `readiness`, served.
async fn ready_of(readiness: Arc<Readiness>) -> impl Fn() -> Ready {
    // The bot's part: synced.
    readiness.set_matrix(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let endpoints = Endpoints {
        metrics: Arc::new(Metrics::new()),
        readiness,
        module: None,
    };
    tokio::spawn(serve(listener, endpoints, std::future::pending()));
    move || {
        let url = format!("http://{addr}/ready");
        Box::pin(async move {
            let answer = reqwest::get(url).await.unwrap();
            let status = answer.status().as_u16();
            let body: serde_json::Value = answer.json().await.unwrap();
            let reasons = body["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            (status, reasons)
        })
    }
}

fn on_disk(path: &Path) -> DaemonState {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("state.json: {e}\n{text}"))
}

/// The scenario, with `break_saves` and `mend_saves` making saves fail and
/// work, and the state file at `path`.
async fn saves_fail_then_work(
    f: &Fixture,
    fake: &FakeSynapse,
    mut daemon: Daemon,
    path: &Path,
    break_saves: &dyn Fn(),
    mend_saves: &dyn Fn(),
) {
    let ready = ready_of(daemon.readiness()).await;
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(ready().await, (200, vec![]));
    assert_eq!(f.room.plain().len(), 1, "{:#?}", f.room.plain());

    break_saves();
    fake.add_media("@alice:test", &[(now_ms(), Some(4 * KIB))]);
    // On a daemon where a failed save is fatal, this is an error.
    daemon
        .run_once()
        .await
        .expect("a failed save stops nothing")
        .unwrap();
    let m = f.room.plain();
    assert_eq!(count(&m, FAILING), 1, "{m:#?}");
    assert_eq!(
        count(&m, "ESCALATED warning quota: @alice:test"),
        1,
        "{m:#?}"
    );
    let (status, reasons) = ready().await;
    assert_eq!(status, 503, "{reasons:?}");
    assert!(
        reasons.len() == 1
            && reasons[0].contains("the state file cannot be saved")
            && reasons[0].contains("No space left on device"),
        "{reasons:?}"
    );
    // More runs and a new violation meanwhile: no second notice.
    fake.add_media("@bob:test", &[(now_ms(), Some(8 * KIB))]);
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(count(&m, FAILING), 1, "{m:#?}");
    assert_eq!(count(&m, "NEW warning quota: @bob:test"), 1, "{m:#?}");
    assert!(
        on_disk(path).alerts.active.len() == 1,
        "nothing saved meanwhile"
    );

    mend_saves();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(count(&m, FAILING), 1, "{m:#?}");
    assert_eq!(count(&m, BACK), 1, "{m:#?}");
    assert!(m.last().unwrap().contains(BACK), "{m:#?}");
    assert_eq!(ready().await, (200, vec![]));
    let saved = on_disk(path);
    assert_eq!(saved.alerts.active.len(), 2, "{saved:#?}");
    assert!(saved.alerts.outbox.is_empty(), "{saved:#?}");
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(count(&f.room.plain(), BACK), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_that_cannot_be_saved_stops_nothing_and_is_said_once() {
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let mut daemon = f.daemon(config);
    let store = Arc::new(Flaky {
        file: JsonStore::new(f.state_path()),
        failing: AtomicBool::new(false),
    });
    daemon.set_store(store.clone());
    let path = f.state_path();
    saves_fail_then_work(
        &f,
        &fake,
        daemon,
        &path,
        &|| store.failing.store(true, Ordering::SeqCst),
        &|| store.failing.store(false, Ordering::SeqCst),
    )
    .await;
}

/// A tmpfs of 64 KiB mounted on a temporary directory; unmounted when
/// dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` where mounting is not allowed (not root, no tmpfs).
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// The same on a real full file system: the state file on a 64 KiB tmpfs,
/// filled up by another file, then emptied. Skipped (and said) where the
/// machine does not let the test mount one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_file_system_stops_nothing() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let mut daemon = f.daemon(config);
    let path = disk.path().join("state.json");
    daemon.set_store(Arc::new(JsonStore::new(&path)));
    let filler = disk.path().join("filler");
    let fill = || {
        // Whatever fits, until the file system says it is full.
        use std::io::Write as _;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        loop {
            if let Err(e) = file.write_all(&block).and_then(|()| file.sync_all()) {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    };
    let empty = || std::fs::remove_file(&filler).unwrap();
    saves_fail_then_work(&f, &fake, daemon, &path, &fill, &empty).await;
}

/// A save that takes 3 s (a slow disk syncing), blocking its thread as a
/// real one does; the first save only. Says when it starts and ends.
#[derive(Debug)]
struct Slow {
    file: JsonStore,
    slow: AtomicBool,
    started: AtomicBool,
    log: Arc<std::sync::Mutex<Vec<&'static str>>>,
}

impl StateStore for Slow {
    fn write(&self, bytes: &[u8]) -> Result<(), StoreError> {
        if self.slow.swap(false, Ordering::SeqCst) {
            self.log.lock().unwrap().push("save started");
            self.started.store(true, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_secs(3));
            self.log.lock().unwrap().push("save finished");
        }
        self.file.write(bytes)
    }
}

/// The module's endpoint answers while a save is slow: saves are written
/// off the async runtime. On a runtime of one thread (where a save written
/// on it would hold every request until it ends), a request for a user's
/// upload limits sent once the save has started is answered before the
/// save finishes.
#[tokio::test(flavor = "current_thread")]
async fn the_module_endpoint_answers_during_a_slow_save() {
    use synapse_warden::daemon::module_api::{LIMITS_PATH, ModuleApi, ModuleSecret};

    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let mut daemon = f.daemon(config);
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = Arc::new(Slow {
        file: JsonStore::new(f.state_path()),
        slow: AtomicBool::new(true),
        started: AtomicBool::new(false),
        log: log.clone(),
    });
    daemon.set_store(store.clone());

    let (refusals, _refused) = tokio::sync::mpsc::channel(8);
    let api = ModuleApi {
        shared: f.shared.lock().unwrap().clone().unwrap(),
        secret: ModuleSecret::new("module secret"),
        refusals,
        metrics: f.metrics.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let endpoints = Endpoints {
        metrics: f.metrics.clone(),
        readiness: daemon.readiness(),
        module: Some(api),
    };
    tokio::spawn(serve(listener, endpoints, std::future::pending()));
    let asked = {
        let log = log.clone();
        tokio::spawn(async move {
            while !store.started.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let answer = reqwest::Client::new()
                .get(format!("http://{addr}{LIMITS_PATH}?user_id=@alice:test"))
                .bearer_auth("module secret")
                .send()
                .await
                .unwrap();
            log.lock().unwrap().push("limits answered");
            answer.status().as_u16()
        })
    };
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(asked.await.unwrap(), 200);
    assert_eq!(
        *log.lock().unwrap(),
        ["save started", "limits answered", "save finished"]
    );
}
