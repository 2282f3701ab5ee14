//! Reading `/proc/<pid>/stat`: whether a process is alive, and its start time (which, with the pid,
//! identifies a process across pid reuse).

/// The fields of `/proc/<pid>/stat` the runtime needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// Start time in clock ticks since boot (field 22).
    pub start_ticks: u64,
}

/// Parses a stat line. The command name (field 2) may contain spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let after_comm = &line[line.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) come fields 4..; the start time is field 22, 19 fields later.
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_ticks })
}

pub fn read_stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether `pid` is the same, still running (not zombie) process that started at `start_ticks`.
pub fn is_alive(pid: i32, start_ticks: u64) -> bool {
    read_stat(pid).is_some_and(|s| s.start_ticks == start_ticks && !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// This process's children (`/proc/self/task/<tid>/children`; callers are single-threaded).
pub fn children_of_self() -> Vec<i32> {
    let me = nix::unistd::gettid();
    std::fs::read_to_string(format!("/proc/self/task/{me}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILLs and reaps every child of this process, round after round, for a child subreaper: killing one
/// hands its own children to us.
pub fn kill_descendants() {
    for _ in 0..100 {
        let children = children_of_self();
        if children.is_empty() {
            return;
        }
        for child in &children {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*child), nix::sys::signal::Signal::SIGKILL);
        }
        for child in &children {
            let mut status = 0;
            // SAFETY: waitpid with a valid pointer, on one of our own children.
            unsafe {
                libc::waitpid(*child, &mut status, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let line = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
        assert_eq!(parse_stat(line), Some(ProcStat { state: 'S', start_ticks: 987654 }));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) Z 1 2"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let stat = read_stat(me).unwrap();
        assert!(is_alive(me, stat.start_ticks));
        assert!(!is_alive(me, stat.start_ticks + 1));
    }
}
