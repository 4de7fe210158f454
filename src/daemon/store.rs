//! Durable state in the data directory: written atomically, read back
//! defensively.
//!
//! A write goes to a temporary file in the same directory, is flushed to disk,
//! then renamed over the old file and the directory is synced: a crash (even
//! `kill -9` or a power cut) leaves either the old state or the new one, never
//! a mix. A state file that cannot be parsed is set aside (renamed with a
//! `.corrupt-<unix seconds>` suffix) so the daemon can go on with a fresh state
//! and the admin can inspect what was there.
//!
//! [`DataDirLock`] makes the data directory one daemon's: `run` takes it
//! before it reads or writes anything there (`session.json`, the crypto
//! store, `state.json`), and a second daemon on the same directory stops at
//! once, naming the directory and the PID that holds it.

use std::fs;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// Failures of the state store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Reading or writing the file failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Serializing failed (should not happen for our types).
    #[error("state file {path}: cannot encode: {source}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// Another process holds the data directory's lock.
    #[error(
        "the data directory {dir} is in use by another synapse-warden (PID {holder}; lock file {lock}): \
         only one daemon may run on a data directory; stop the other one or give this one another matrix.data_dir"
    )]
    InUse {
        /// The data directory.
        dir: PathBuf,
        /// The lock file in it.
        lock: PathBuf,
        /// The PID written in the lock file, or what stands for it when
        /// it cannot be read.
        holder: String,
    },
}

/// The name of the lock file in the data directory.
pub const LOCK_FILE: &str = "warden.lock";

/// The exclusive lock on a data directory, held while this value lives
/// (the operating system releases it when the process ends, even on
/// `kill -9`). The lock file holds the PID of its holder.
#[derive(Debug)]
pub struct DataDirLock {
    _file: fs::File,
}

impl DataDirLock {
    /// Takes the lock of `dir` (which must exist) without waiting; if
    /// another process holds it, [`StoreError::InUse`].
    pub fn acquire(dir: &Path) -> Result<DataDirLock, StoreError> {
        let lock = dir.join(LOCK_FILE);
        let io = |source| StoreError::Io {
            path: lock.clone(),
            source,
        };
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&lock).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = (&file).take(32).read_to_string(&mut pid);
                let pid = pid.trim();
                let holder = if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                    pid.to_owned()
                } else {
                    "unknown".to_owned()
                };
                return Err(StoreError::InUse {
                    dir: dir.to_owned(),
                    lock,
                    holder,
                });
            }
            Err(fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

/// What loading found.
#[derive(Debug)]
pub enum Loaded<T> {
    /// No state yet (first start).
    Missing,
    /// The state as last saved.
    Found(T),
    /// The file could not be parsed; it was moved to `set_aside`.
    Corrupt {
        /// Where the unreadable file now is.
        set_aside: PathBuf,
        /// Why it could not be parsed.
        reason: String,
    },
}

/// Where the daemon's state is saved: [`JsonStore`] in production; tests
/// give failing or slow ones ([`crate::daemon::service::Daemon::set_store`]).
///
/// [`StateStore::write`] blocks (it syncs to disk): the daemon calls it off
/// the async runtime, with `tokio::task::spawn_blocking`.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// Replaces the saved state with `bytes` (its JSON), atomically and
    /// durably.
    fn write(&self, bytes: &[u8]) -> Result<(), StoreError>;
}

impl StateStore for JsonStore {
    fn write(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.save_bytes(bytes)
    }
}

/// A JSON file holding one value of type `T`.
#[derive(Debug, Clone)]
pub struct JsonStore {
    path: PathBuf,
}

impl JsonStore {
    /// A store at `path` (its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonStore { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; a corrupt file is renamed with `now_secs` in its name.
    pub fn load<T: DeserializeOwned>(&self, now_secs: u64) -> Result<Loaded<T>, StoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(source) => return Err(self.io(source)),
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Loaded::Found(value)),
            Err(e) => {
                let mut aside = self.path.clone().into_os_string();
                aside.push(format!(".corrupt-{now_secs}"));
                let aside = PathBuf::from(aside);
                fs::rename(&self.path, &aside).map_err(|source| self.io(source))?;
                Ok(Loaded::Corrupt {
                    set_aside: aside,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Replaces the state atomically and durably.
    pub fn save<T: Serialize>(&self, value: &T) -> Result<(), StoreError> {
        self.save_bytes(&self.encode(value)?)
    }

    /// `value` as saved: compact JSON, not pretty (with tens of thousands
    /// of alerts the indentation alone would be most of the file).
    pub fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            path: self.path.clone(),
            source,
        })
    }

    /// Replaces the file with `bytes` atomically and durably.
    pub fn save_bytes(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|source| self.io(source))?;
        tmp.write_all(bytes).map_err(|source| self.io(source))?;
        tmp.as_file().sync_all().map_err(|source| self.io(source))?;
        tmp.persist(&self.path).map_err(|e| self.io(e.error))?;
        // Make the rename itself durable.
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_has_one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(
            fs::read_to_string(dir.path().join(LOCK_FILE))
                .unwrap()
                .trim(),
            pid
        );
        // A second open file description conflicts as another process's.
        match DataDirLock::acquire(dir.path()) {
            Err(e @ StoreError::InUse { .. }) => {
                let said = e.to_string();
                assert!(said.contains(&dir.path().display().to_string()), "{said}");
                assert!(said.contains(&format!("PID {pid}")), "{said}");
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        let _again = DataDirLock::acquire(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(LOCK_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn saves_loads_and_sets_aside_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::new(dir.path().join("state.json"));
        assert!(matches!(
            store.load::<Vec<u32>>(1).unwrap(),
            Loaded::Missing
        ));
        store.save(&vec![1u32, 2, 3]).unwrap();
        assert!(matches!(store.load::<Vec<u32>>(1).unwrap(), Loaded::Found(v) if v == [1, 2, 3]));
        store.save(&vec![4u32]).unwrap();
        assert!(matches!(store.load::<Vec<u32>>(1).unwrap(), Loaded::Found(v) if v == [4]));
        fs::write(store.path(), b"{\"half").unwrap();
        match store.load::<Vec<u32>>(42).unwrap() {
            Loaded::Corrupt { set_aside, reason } => {
                assert!(
                    set_aside
                        .to_string_lossy()
                        .ends_with("state.json.corrupt-42")
                );
                assert!(set_aside.exists());
                assert!(!reason.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            store.load::<Vec<u32>>(43).unwrap(),
            Loaded::Missing
        ));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary files left behind: {leftovers:?}"
        );
    }
}
