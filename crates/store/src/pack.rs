//! Packing of the JSON text the store keeps in memory.
//!
//! The cache holds every object for as long as it exists, and a Job of 100,000 pods keeps 100,000 pods and their
//! events. Objects of one kind are mostly the same text (keys, defaults, label and owner boilerplate), so the
//! cache keeps each as an LZ4 block compressed against a fixed dictionary of typical objects
//! (`pack_dictionary.jsonl`: a Job, a finished pod of it and the events of both, as runlet writes them). A finished
//! pod of another Job (other names, uids, times, command) packs from 2.5 KB to 0.6 KB, one of its events from
//! 0.6 KB to 0.2 KB; packing a pod takes about 4 µs, unpacking it under 1 µs.
//!
//! The dictionary lives only in memory and in this binary (what is on disk is plain JSON), so it may change
//! from one version to the next.

use std::borrow::Cow;
use std::sync::Arc;

const DICTIONARY: &[u8] = include_bytes!("pack_dictionary.jsonl");

/// Text this short is kept as it is: packing would save too little to pay for the unpacking.
const PACK_FROM: usize = 128;

/// JSON text as memory keeps it.
#[derive(Clone, Debug)]
pub(crate) enum Text {
    Plain(Arc<str>),
    /// An LZ4 block against [`DICTIONARY`] and the length of the text it unpacks to.
    Packed {
        block: Arc<[u8]>,
        len: u32,
    },
}

impl Text {
    /// `text` packed, or kept plain when packing does not make it smaller.
    pub(crate) fn pack(text: &str) -> Text {
        let Ok(len) = u32::try_from(text.len()) else { return Text::Plain(Arc::from(text)) };
        if text.len() < PACK_FROM {
            return Text::Plain(Arc::from(text));
        }
        let block = lz4_flex::block::compress_with_dict(text.as_bytes(), DICTIONARY);
        if block.len() >= text.len() {
            return Text::Plain(Arc::from(text));
        }
        Text::Packed { block: Arc::from(block), len }
    }

    /// The text. Err only if a packed block does not unpack to UTF-8 of its length, which nothing here writes.
    pub(crate) fn unpack(&self) -> Result<Cow<'_, str>, String> {
        match self {
            Text::Plain(text) => Ok(Cow::Borrowed(text)),
            Text::Packed { block, len } => {
                let len = usize::try_from(*len).map_err(|e| e.to_string())?;
                let bytes = lz4_flex::block::decompress_with_dict(block, len, DICTIONARY).map_err(|e| e.to_string())?;
                if bytes.len() != len {
                    return Err(format!("a packed text unpacked to {} bytes, not {len}", bytes.len()));
                }
                String::from_utf8(bytes).map(Cow::Owned).map_err(|e| e.to_string())
            }
        }
    }

    /// Bytes this text takes in memory (without the allocator's overhead).
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        match self {
            Text::Plain(text) => text.len(),
            Text::Packed { block, .. } => block.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dictionary's object of `kind`.
    fn sample(kind: &str) -> String {
        let is_kind = |line: &&str| serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["kind"] == kind);
        let text = String::from_utf8_lossy(DICTIONARY);
        text.lines().find(is_kind).map(str::to_string).unwrap_or_default()
    }

    /// Text with no repeats to find: printable characters from a linear congruential generator.
    fn noise(len: usize) -> String {
        let mut x: u64 = 42;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                char::from(b'!' + ((x >> 33) % 90) as u8)
            })
            .collect()
    }

    #[test]
    fn texts_come_back_as_they_were() {
        let pod = sample("Pod").replace("many-", "other-").replace("\"true\"", "\"sleep\",\"1\"");
        let cases = [
            ("a short text stays plain", "{\"a\":1}".to_string(), false),
            ("a pod packs", pod, true),
            ("an event packs", sample("Event").replace("Started", "Killing"), true),
            ("text unlike the dictionary", format!("{{\"data\":\"{}\"}}", "x\u{e9}".repeat(400)), true),
            ("text that does not compress stays plain", noise(300), false),
        ];
        for (what, text, packs) in cases {
            assert!(!text.is_empty(), "{what}: the dictionary has a sample");
            let packed = Text::pack(&text);
            assert_eq!(matches!(packed, Text::Packed { .. }), packs, "{what}");
            assert_eq!(packed.unpack().as_deref(), Ok(text.as_str()), "{what}");
        }
    }

    #[test]
    fn objects_like_the_dictionary_pack_to_a_fraction() {
        // Another pod of another Job: names, uids and times differ from the dictionary's.
        let pod = sample("Pod")
            .replace("many", "render-frames")
            .replace("2026-12-06T05:2", "2027-01-01T17:4")
            .replace(|c: char| c.is_ascii_digit(), "7");
        let packed = Text::pack(&pod);
        assert!(packed.size() * 3 < pod.len(), "{} of {} bytes", packed.size(), pod.len());
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let Text::Packed { block, len } = Text::pack(&sample("Pod")) else { panic!("the sample packs") };
        let mut damaged = block.to_vec();
        damaged.truncate(damaged.len() / 2);
        let cut = Text::Packed { block: Arc::from(damaged), len };
        assert!(cut.unpack().is_err());
        let wrong_length = Text::Packed { block, len: len + 5 };
        assert!(wrong_length.unpack().is_err());
    }
}
