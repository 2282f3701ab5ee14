//! Serving container logs for `pods/{name}/log`, as the kubelet does: the run to read is chosen from the
//! pod's container status (current or `previous`), the CRI log file is filtered by `sinceTime` /
//! `sinceSeconds` and `tailLines`, optionally prefixed with timestamps, cut at `limitBytes`, and with
//! `follow` the stream goes on until that run has ended.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use runlet_codec::{ContainerStatus, Pod};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::runtime::procstat;
use crate::runtime::state::{self, LaunchSpec, PodPaths, StartRecord};
use crate::runtime::{crilog, logfile};

/// How often a followed log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// The query parameters of `pods/{name}/log`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub tail_lines: Option<i64>,
    pub since_time: Option<Timestamp>,
    pub since_seconds: Option<i64>,
    pub timestamps: bool,
    pub previous: bool,
    pub limit_bytes: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// HTTP 400 from the API server.
    #[error("container {container} is not valid for pod {pod}")]
    InvalidContainer { container: String, pod: String },
    /// The kubelet's refusals (HTTP 400): waiting to start, no previous run, ...
    #[error("{0}")]
    Unavailable(String),
    #[error("reading logs: {0}")]
    Io(#[from] io::Error),
}

/// Which run's log to read, following the kubelet's `validateContainerLogStatus`. Returns the bare
/// container id.
pub fn select_container_id(
    status: Option<&ContainerStatus>,
    container: &str,
    pod: &str,
    previous: bool,
) -> Result<String, String> {
    let Some(status) = status else {
        return Err(format!("container {container:?} in pod {pod:?} is not available"));
    };
    let state = status.state.clone().unwrap_or_default();
    let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let last_id = last.and_then(|t| t.container_id.clone()).filter(|id| !id.is_empty());
    let id = if previous {
        last_id.ok_or_else(|| format!("previous terminated container {container:?} in pod {pod:?} not found"))?
    } else if state.running.is_some() {
        status.container_id.clone().unwrap_or_default()
    } else if let Some(terminated) = &state.terminated {
        match terminated.container_id.clone().filter(|id| !id.is_empty()).or(last_id) {
            Some(id) => id,
            None => return Err(format!("container {container:?} in pod {pod:?} is terminated")),
        }
    } else if last.is_some() {
        last_id.ok_or_else(|| format!("container {container:?} in pod {pod:?} is terminated"))?
    } else if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.as_deref().unwrap_or("");
        return Err(format!("container {container:?} in pod {pod:?} is waiting to start: {reason}"));
    } else {
        return Err(format!("container {container:?} in pod {pod:?} is waiting to start - no logs yet"));
    };
    Ok(id.split_once("://").map_or(id.as_str(), |(_, bare)| bare).to_string())
}

/// The run directory and log file of the run with `container_id`.
fn find_run(paths: &PodPaths, container: &str, container_id: &str) -> io::Result<Option<(PathBuf, PathBuf)>> {
    for attempt in state::attempts(&paths.container_dir(container))?.into_iter().rev() {
        let run_dir = paths.run_dir(container, attempt);
        if let Some(spec) = state::read_json::<LaunchSpec>(&run_dir.join(state::LAUNCH_FILE))?
            && spec.container_id == container_id
        {
            return Ok(Some((run_dir, paths.log_file(container, attempt))));
        }
    }
    Ok(None)
}

/// Opens the log of `container` in `pod` (whose status says which run is current).
pub async fn read_logs(
    paths: &PodPaths,
    pod: &Pod,
    container: &str,
    options: LogOptions,
) -> Result<BoxStream<'static, io::Result<Bytes>>, LogError> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let known = spec
        .into_iter()
        .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
        .any(|c| c.name == container);
    if !known {
        return Err(LogError::InvalidContainer { container: container.to_string(), pod: pod_name });
    }
    let status = pod.status.as_ref().and_then(|s| {
        s.container_statuses.iter().chain(s.init_container_statuses.iter()).flatten().find(|c| c.name == container)
    });
    let container_id =
        select_container_id(status, container, &pod_name, options.previous).map_err(LogError::Unavailable)?;
    let Some((run_dir, log_path)) = find_run(paths, container, &container_id)? else {
        return Err(LogError::Unavailable(format!("container {container:?} in pod {pod_name:?} is not available")));
    };
    // The rotated files, oldest first, then the current one: read as one log.
    let mut files: std::collections::VecDeque<PathBuf> =
        logfile::rotated(&log_path).into_iter().map(|(_, p)| p).collect();
    files.push_back(log_path.clone());
    if let Some(n) = options.tail_lines.filter(|n| *n >= 0) {
        // Drop whole files that lie before the last `n` lines.
        let mut needed = n as u64;
        let mut keep = files.len();
        for (i, path) in files.iter().enumerate().rev() {
            keep = i;
            let lines = match tokio::fs::read(path).await {
                Ok(data) => data.iter().filter(|b| **b == b'\n').count() as u64,
                Err(_) => 0,
            };
            if lines >= needed {
                break;
            }
            needed -= lines;
        }
        files.drain(..keep);
        let first = files.pop_front().unwrap_or_else(|| log_path.clone());
        let mut file = match tokio::fs::File::open(&first).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(stream::empty().boxed()),
            Err(e) => return Err(e.into()),
        };
        let start = tail_start(&mut file, needed).await?;
        file.seek(SeekFrom::Start(start)).await?;
        return Ok(reader_stream(file, files, log_path, run_dir, &options));
    }
    let first = files.pop_front().unwrap_or_else(|| log_path.clone());
    let file = match tokio::fs::File::open(&first).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(stream::empty().boxed()),
        Err(e) => return Err(e.into()),
    };
    Ok(reader_stream(file, files, log_path, run_dir, &options))
}

fn reader_stream(
    file: tokio::fs::File,
    next_files: std::collections::VecDeque<PathBuf>,
    current: PathBuf,
    run_dir: PathBuf,
    options: &LogOptions,
) -> BoxStream<'static, io::Result<Bytes>> {
    let since = match (options.since_time, options.since_seconds) {
        (Some(t), _) => Some(t),
        (None, Some(secs)) => Timestamp::now().checked_sub(SignedDuration::from_secs(secs)).ok(),
        (None, None) => None,
    };
    let reader = LogReader {
        file,
        next_files,
        current,
        pending: Vec::new(),
        run_dir,
        follow: options.follow,
        timestamps: options.timestamps,
        since,
        remaining: options.limit_bytes.map(|n| u64::try_from(n).unwrap_or(0)),
        saw_end: false,
        rotation_seen: false,
        done: false,
    };
    stream::unfold(reader, |mut reader| async move {
        match reader.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), reader)),
            Ok(None) => None,
            Err(e) => {
                reader.done = true;
                Some((Err(e), reader))
            }
        }
    })
    .boxed()
}

struct LogReader {
    file: tokio::fs::File,
    /// Files still to read after this one (rotated files, then the current one).
    next_files: std::collections::VecDeque<PathBuf>,
    /// The current log file's path: when it names another file than the one being read, the log rotated.
    current: PathBuf,
    /// Bytes after the last complete line read so far.
    pending: Vec<u8>,
    run_dir: PathBuf,
    follow: bool,
    timestamps: bool,
    since: Option<Timestamp>,
    remaining: Option<u64>,
    /// The run has ended; one more read drains what it wrote last.
    saw_end: bool,
    /// The held file was rotated away; one more read drains what was written to it before the rename.
    rotation_seen: bool,
    done: bool,
}

impl LogReader {
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if self.done {
                return Ok(None);
            }
            let n = self.file.read(&mut buf).await?;
            if n > 0 {
                self.pending.extend_from_slice(&buf[..n]);
                let out = self.take_lines();
                if !out.is_empty() {
                    return Ok(Some(Bytes::from(out)));
                }
                continue;
            }
            if let Some(next) = self.next_files.pop_front() {
                match tokio::fs::File::open(&next).await {
                    Ok(f) => self.file = f,
                    // Rotated out of existence before we got to it; its lines are gone.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            if self.rotated_away().await {
                if !self.rotation_seen {
                    // The writer finished this file before renaming it: read it to its end first.
                    self.rotation_seen = true;
                    continue;
                }
                // Go on with every file that came after it (more than one rotation may have happened between
                // two polls), then the current one.
                self.rotation_seen = false;
                self.next_files = self.files_after_held().await;
                continue;
            }
            if !self.follow || self.saw_end {
                self.done = true;
                return Ok(None);
            }
            if run_ended(&self.run_dir) {
                self.saw_end = true;
                continue;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// The rotated files newer than the one being read (by inode; all of them when it is gone), then the
    /// current file.
    async fn files_after_held(&self) -> std::collections::VecDeque<PathBuf> {
        use std::os::unix::fs::MetadataExt;
        let held = self.file.metadata().await.ok().map(|m| m.ino());
        let rotated = logfile::rotated(&self.current);
        let mut position = None;
        for (i, (_, path)) in rotated.iter().enumerate() {
            if held.is_some() && tokio::fs::metadata(path).await.ok().map(|m| m.ino()) == held {
                position = Some(i);
            }
        }
        let start = position.map_or(0, |i| i + 1);
        let mut files: std::collections::VecDeque<PathBuf> = rotated.into_iter().skip(start).map(|(_, p)| p).collect();
        files.push_back(self.current.clone());
        files
    }

    async fn rotated_away(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata().await, tokio::fs::metadata(&self.current).await) {
            (Ok(held), Ok(now)) => held.ino() != now.ino(),
            _ => false,
        }
    }

    /// Formats the complete lines in `pending`, applying `since`, timestamps and the byte limit.
    fn take_lines(&mut self) -> Vec<u8> {
        let Some(last_newline) = self.pending.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
        let mut out = Vec::new();
        for line in self.pending[..last_newline].split(|b| *b == b'\n') {
            // Lines that are not CRI records are skipped, as the kubelet does.
            let Some(record) = crilog::parse(line) else { continue };
            if self.since.is_some_and(|since| record.time < since) {
                continue;
            }
            if self.timestamps {
                out.extend_from_slice(crilog::format_time(record.time).as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(record.content);
            if !record.partial {
                out.push(b'\n');
            }
        }
        self.pending.drain(..=last_newline);
        if let Some(remaining) = self.remaining.as_mut() {
            let keep = usize::try_from(*remaining).unwrap_or(usize::MAX).min(out.len());
            out.truncate(keep);
            *remaining -= keep as u64;
            if *remaining == 0 {
                self.done = true;
            }
        }
        out
    }
}

/// Whether the run has ended (its exit is recorded, or its shim is gone).
fn run_ended(run_dir: &Path) -> bool {
    if run_dir.join(state::EXIT_FILE).exists() {
        return true;
    }
    match state::read_json::<StartRecord>(&run_dir.join(state::STARTED_FILE)) {
        Ok(Some(start)) => !procstat::is_alive(start.shim_pid, start.shim_start_ticks),
        // The shim is still starting the process.
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Offset of the first of the last `lines` lines of the file (the kubelet's `FindTailLineStartIndex`).
async fn tail_start(file: &mut tokio::fs::File, lines: u64) -> io::Result<u64> {
    let len = file.metadata().await?.len();
    if lines == 0 {
        return Ok(len);
    }
    const BLOCK: u64 = 8 * 1024;
    let mut end = len;
    let mut found = 0u64;
    let mut buf = vec![0u8; BLOCK as usize];
    let mut first_block = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let size = (end - start) as usize;
        file.seek(SeekFrom::Start(start)).await?;
        file.read_exact(&mut buf[..size]).await?;
        let mut block = &buf[..size];
        if first_block {
            // The newline that ends the last line does not start a line.
            if block.last() == Some(&b'\n') {
                block = &block[..size - 1];
            }
            first_block = false;
        }
        for (i, b) in block.iter().enumerate().rev() {
            if *b == b'\n' {
                found += 1;
                if found == lines {
                    return Ok(start + i as u64 + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::{ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting};

    fn terminated(id: Option<&str>) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated { container_id: id.map(str::to_string), ..Default::default() }),
            ..Default::default()
        }
    }

    fn status(state: ContainerState, last: Option<ContainerState>, id: Option<&str>) -> ContainerStatus {
        ContainerStatus {
            name: "c".into(),
            state: Some(state),
            last_state: last,
            container_id: id.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn container_selection_table() {
        let running = ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() };
        let waiting = |reason: &str| ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message: None }),
            ..Default::default()
        };
        let cases: Vec<(Option<ContainerStatus>, bool, Result<&str, &str>)> = vec![
            (None, false, Err("container \"c\" in pod \"p\" is not available")),
            (Some(status(running.clone(), None, Some("runlet://a"))), false, Ok("a")),
            (
                Some(status(running.clone(), None, Some("runlet://a"))),
                true,
                Err("previous terminated container \"c\" in pod \"p\" not found"),
            ),
            (Some(status(running, Some(terminated(Some("runlet://old"))), Some("runlet://a"))), true, Ok("old")),
            (Some(status(terminated(Some("runlet://t")), None, Some("runlet://t"))), false, Ok("t")),
            (Some(status(terminated(None), Some(terminated(Some("runlet://old"))), None)), false, Ok("old")),
            (Some(status(terminated(None), None, None)), false, Err("container \"c\" in pod \"p\" is terminated")),
            (
                Some(status(waiting("CrashLoopBackOff"), Some(terminated(Some("runlet://dead"))), None)),
                false,
                Ok("dead"),
            ),
            (
                Some(status(waiting("ContainerCreating"), None, None)),
                false,
                Err("container \"c\" in pod \"p\" is waiting to start: ContainerCreating"),
            ),
            (
                Some(status(ContainerState::default(), None, None)),
                false,
                Err("container \"c\" in pod \"p\" is waiting to start - no logs yet"),
            ),
        ];
        for (status, previous, want) in cases {
            let got = select_container_id(status.as_ref(), "c", "p", previous);
            assert_eq!(got.as_deref().map_err(String::as_str), want, "{status:?} previous={previous}");
        }
    }

    /// Two rotations (and more) between two polls of a follower: every line still arrives, in order.
    #[tokio::test]
    async fn follow_survives_several_rotations_between_polls() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("0.log");
        let run_dir = dir.path().join("run");
        std::fs::create_dir(&run_dir).unwrap();
        let limits = logfile::LogLimits { max_size: 200, max_files: 5 };
        let mut log = logfile::LogFile::open(&log_path, limits).unwrap();
        let write = |log: &mut logfile::LogFile, line: &str| {
            let mut record = Vec::new();
            let time = crilog::format_time(Timestamp::now());
            crilog::encode(&mut record, &time, crilog::Stream::Stdout, false, line.as_bytes());
            log.write(&record).unwrap();
        };
        write(&mut log, "line 0");
        let file = tokio::fs::File::open(&log_path).await.unwrap();
        let options = LogOptions { follow: true, ..Default::default() };
        let mut stream = reader_stream(file, Default::default(), log_path.clone(), run_dir.clone(), &options);
        assert_eq!(stream.next().await.unwrap().unwrap(), Bytes::from("line 0\n"));
        // The reader is now waiting for more; the writer fills three files meanwhile (about four lines each).
        for i in 1..12 {
            write(&mut log, &format!("line {i}"));
        }
        assert!(logfile::rotated(&log_path).len() >= 2, "{:?}", logfile::rotated(&log_path));
        std::fs::write(run_dir.join(state::EXIT_FILE), "{}").unwrap();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        let want: String = (1..12).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, want);
    }

    #[tokio::test]
    async fn tail_start_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "a\nbb\nccc\n").unwrap();
        let mut file = tokio::fs::File::open(&path).await.unwrap();
        for (lines, want) in [(0, 9), (1, 5), (2, 2), (3, 0), (10, 0)] {
            assert_eq!(tail_start(&mut file, lines).await.unwrap(), want, "lines {lines}");
        }
    }
}
