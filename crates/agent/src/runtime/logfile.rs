//! A container's log file with the kubelet's rotation: when the current file (`<attempt>.log`) would grow past
//! `containerLogMaxSize`, it is renamed to `<attempt>.log.<n>` (n counting up) and a new one is started; only
//! the newest `containerLogMaxFiles` files (the current one included) are kept. The shim is the only writer;
//! readers ([`crate::logs`]) read the rotated files oldest first, then the current one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The kubelet's `containerLogMaxSize` and `containerLogMaxFiles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLimits {
    pub max_size: u64,
    pub max_files: u32,
}

impl Default for LogLimits {
    /// The kubelet's defaults: 10 MiB, 5 files.
    fn default() -> Self {
        LogLimits { max_size: 10 * 1024 * 1024, max_files: 5 }
    }
}

/// The rotated files of the log at `current`, oldest first, with their numbers.
pub fn rotated(current: &Path) -> Vec<(u64, PathBuf)> {
    let (Some(dir), Some(name)) = (current.parent(), current.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{name}.");
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name();
            let n = file.to_str()?.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Opens a log file for appending, private to the node's owner.
fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// The log being written by a shim.
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    limits: LogLimits,
}

impl LogFile {
    pub fn open(path: &Path, limits: LogLimits) -> io::Result<LogFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile { path: path.to_path_buf(), file, size, limits })
    }

    /// Appends whole records (one write, so readers see whole lines), rotating first when they would not fit.
    pub fn write(&mut self, records: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + records.len() as u64 > self.limits.max_size {
            self.rotate()?;
        }
        self.file.write_all(records)?;
        self.size += records.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let existing = rotated(&self.path);
        let next = existing.last().map_or(1, |(n, _)| n + 1);
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{next}"));
        std::fs::rename(&self.path, PathBuf::from(name))?;
        // Keep max_files in all: the current one and max_files - 1 rotated ones (the one just made included).
        let keep = self.limits.max_files.saturating_sub(1).max(1) as usize;
        let all = existing.len() + 1;
        for (_, old) in existing.iter().take(all.saturating_sub(keep)) {
            let _ = std::fs::remove_file(old);
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        if let Some(dir) = self.path.parent() {
            super::state::sync_dir(dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut log = LogFile::open(&path, LogLimits { max_size: 10, max_files: 3 }).unwrap();
        for i in 0..6 {
            log.write(format!("line {i}\n").as_bytes()).unwrap();
        }
        let kept: Vec<u64> = rotated(&path).into_iter().map(|(n, _)| n).collect();
        assert_eq!(kept, [4, 5]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line 5\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("0.log.5")).unwrap(), "line 4\n");
        // A record larger than the limit still goes in whole.
        log.write(&[b'x'; 40]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 40);
    }
}
