//! Files and directories only the warden's user may read: the data
//! directory (`0700`) and what it holds — the audit log, the usage history,
//! the state, the session (`0600`) — private from their creation, not made
//! so afterwards.

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, each `0700` from its creation;
/// an existing directory is left as it is.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens `path` for appending, creating it `0600` (and its missing
/// directories `0700`) when it does not exist.
pub fn open_append(path: &Path) -> io::Result<fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates `path` empty and `0600` when it does not exist; an existing
/// file is left untouched (not truncated).
pub fn create_file(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_from_creation_whatever_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a").join("data");
        let log = data.join("audit.log");
        open_append(&log).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&log), 0o600);
        let file = data.join("history.sqlite3");
        create_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        // Existing files keep their content.
        fs::write(&file, "kept").unwrap();
        create_file(&file).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "kept");
    }
}
