//! The CRI container log format, one record per line:
//! `2026-01-01T00:00:00.123456789Z stdout F text`. `F` marks a full line (its newline was stripped), `P` a
//! partial one (a line longer than the buffer, or output that ended without a newline). Keeping the
//! kubelet's format lets `timestamps`, `sinceTime` and `tailLines` be served the way the kubelet serves them.

use jiff::Timestamp;

/// Longest line content stored in one record; longer lines are split into `P` records (as containerd does).
pub const MAX_RECORD_CONTENT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One parsed record of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: Timestamp,
    pub stream: Stream,
    /// `P` records carry no newline of their own.
    pub partial: bool,
    pub content: &'a [u8],
}

/// RFC 3339 with exactly nine fractional digits (Go's `RFC3339NanoFixed`, what `kubectl logs --timestamps` shows).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%NZ").to_string()
}

/// Appends one record, newline included, to `out`.
pub fn encode(out: &mut Vec<u8>, time: &str, stream: Stream, partial: bool, content: &[u8]) {
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Parses one record (without its trailing newline). `None` for a line that is not a CRI record.
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?.parse::<Timestamp>().ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(Record { time, stream, partial, content: parts.next().unwrap_or(b"") })
}

/// Splits a byte stream into record contents: full lines, and partial chunks for over-long lines and for
/// whatever is left without a newline at the end.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds `data`; calls `emit(content, partial)` for each complete record.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(newline) if self.pending.len() + newline <= MAX_RECORD_CONTENT => {
                    if self.pending.is_empty() {
                        emit(&data[..newline], false);
                    } else {
                        self.pending.extend_from_slice(&data[..newline]);
                        emit(&self.pending, false);
                        self.pending.clear();
                    }
                    data = &data[newline + 1..];
                }
                _ => {
                    // No newline within reach: buffer up to the record limit, flushing full buffers as `P`.
                    let room = MAX_RECORD_CONTENT - self.pending.len();
                    let take = room.min(data.len());
                    self.pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.pending.len() == MAX_RECORD_CONTENT {
                        emit(&self.pending, true);
                        self.pending.clear();
                    }
                }
            }
        }
    }

    /// End of stream: what is left (a line without its newline) becomes a partial record, never lost.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, true);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut splitter = LineSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, |c, p| out.push((c.to_vec(), p)));
        }
        splitter.finish(|c, p| out.push((c.to_vec(), p)));
        out
    }

    #[test]
    fn splitting_table() {
        let long = vec![b'x'; MAX_RECORD_CONTENT + 10];
        type Records = Vec<(Vec<u8>, bool)>;
        let cases: Vec<(Vec<&[u8]>, Records)> = vec![
            (vec![b"a\nb\n"], vec![(b"a".to_vec(), false), (b"b".to_vec(), false)]),
            (vec![b"hel", b"lo\nwor", b"ld"], vec![(b"hello".to_vec(), false), (b"world".to_vec(), true)]),
            (vec![b"\n\n"], vec![(vec![], false), (vec![], false)]),
            (vec![b"no newline"], vec![(b"no newline".to_vec(), true)]),
            (vec![], vec![]),
            (vec![&long, b"\n"], vec![(vec![b'x'; MAX_RECORD_CONTENT], true), (vec![b'x'; 10], false)]),
        ];
        for (chunks, want) in cases {
            assert_eq!(split(&chunks), want, "chunks {chunks:?}");
        }
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let t: Timestamp = "2026-01-01T00:00:00.123Z".parse().unwrap();
        let time = format_time(t);
        assert_eq!(time, "2026-01-01T00:00:00.123000000Z");
        let mut buf = Vec::new();
        encode(&mut buf, &time, Stream::Stderr, true, b"a b  c");
        assert_eq!(buf, b"2026-01-01T00:00:00.123000000Z stderr P a b  c\n");
        let record = parse(&buf[..buf.len() - 1]).unwrap();
        assert_eq!(record, Record { time: t, stream: Stream::Stderr, partial: true, content: b"a b  c" });
    }

    #[test]
    fn parse_rejects_garbage() {
        for line in [&b""[..], b"x stdout F a", b"2026-01-01T00:00:00Z stdin F a", b"2026-01-01T00:00:00Z stdout X a"] {
            assert!(parse(line).is_none(), "{line:?}");
        }
        let empty = parse(b"2026-01-01T00:00:00Z stdout F ").unwrap();
        assert_eq!(empty.content, b"");
    }
}
