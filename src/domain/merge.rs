//! Merging customer messages that wait for the same staff topic into as few Telegram
//! messages as possible (each line stamped with its time), within Telegram's 4,096 UTF-16
//! code units (what Telegram counts: an emoji outside the BMP is two). A staff group may
//! receive only about 20 messages a minute, so a burst of ten short messages must cost one
//! send, not ten.

use super::text::{split_utf16, utf16_len};

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const TELEGRAM_TEXT_LIMIT: usize = super::text::TELEGRAM_TEXT;

/// One line to merge: its time stamp (already formatted) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub stamp: &'a str,
    pub text: &'a str,
}

/// A merged message and how many of the input entries it finished. An entry longer than a
/// message is split across several; it counts as finished in the chunk that ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    /// Indexes (into the input) of the entries whose last part is in this chunk.
    pub completes: Vec<usize>,
    /// Indexes of the entries with any part in this chunk (a superset of `completes`).
    pub touches: Vec<usize>,
}

/// Merge entries, in order, into chunks of at most Telegram's limit in UTF-16 units.
pub fn merge(entries: &[Entry<'_>]) -> Vec<Chunk> {
    merge_with_limit(entries, TELEGRAM_TEXT_LIMIT)
}

/// The same with any limit (in UTF-16 code units, at least 2).
pub fn merge_with_limit(entries: &[Entry<'_>], limit: usize) -> Vec<Chunk> {
    let limit = limit.max(2);
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    let mut completes = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let line = format!("[{}] {}", e.stamp, e.text);
        let line_len = utf16_len(&line);
        let sep = usize::from(current_len > 0);
        if current_len + sep + line_len <= limit {
            if sep == 1 {
                current.push('\n');
            }
            current.push_str(&line);
            current_len += sep + line_len;
            completes.push(i);
            continue;
        }
        // Does not fit: close the current chunk, then place the line, splitting if needed.
        if current_len > 0 {
            let completes = std::mem::take(&mut completes);
            chunks.push(Chunk { text: std::mem::take(&mut current), touches: completes.clone(), completes });
        }
        let mut pieces = split_utf16(&line, limit);
        let last = pieces.pop().unwrap_or_default();
        for piece in pieces {
            chunks.push(Chunk { text: piece.to_string(), completes: Vec::new(), touches: vec![i] });
        }
        current = last.to_string();
        current_len = utf16_len(last);
        completes.push(i);
    }
    if current_len > 0 {
        chunks.push(Chunk { text: current, touches: completes.clone(), completes });
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_messages_become_one_stamped_message() {
        let e = [Entry { stamp: "09:01", text: "Hi" }, Entry { stamp: "09:02", text: "Is the RAV4 still there?" }];
        let chunks = merge(&e);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "[09:01] Hi\n[09:02] Is the RAV4 still there?");
        assert_eq!(chunks[0].completes, vec![0, 1]);
    }

    #[test]
    fn a_long_message_is_split_and_completed_in_its_last_part() {
        let long = "x".repeat(25);
        let e = [Entry { stamp: "1", text: "a" }, Entry { stamp: "2", text: &long }, Entry { stamp: "3", text: "b" }];
        let chunks = merge_with_limit(&e, 10);
        for c in &chunks {
            assert!(utf16_len(&c.text) <= 10, "{c:?}");
        }
        let all: Vec<usize> = chunks.iter().flat_map(|c| c.completes.clone()).collect();
        assert_eq!(all, vec![0, 1, 2]);
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join("");
        assert!(joined.contains(&format!("[2] {long}")));
    }

    proptest! {
        #[test]
        fn nothing_is_lost_and_nothing_exceeds_the_limit(texts in proptest::collection::vec("[a-zé😀\u{301}\u{202e}\u{0} ]{0,60}|\\PC{0,40}", 0..30), limit in 8usize..80) {
            let entries: Vec<Entry> = texts.iter().map(|t| Entry { stamp: "12:00", text: t }).collect();
            let chunks = merge_with_limit(&entries, limit);
            let mut done = Vec::new();
            for c in &chunks {
                prop_assert!(utf16_len(&c.text) <= limit);
                prop_assert!(!c.text.is_empty());
                prop_assert!(!c.touches.is_empty());
                prop_assert!(c.completes.iter().all(|i| c.touches.contains(i)));
                done.extend(c.completes.iter().copied());
            }
            prop_assert_eq!(done, (0..entries.len()).collect::<Vec<_>>());
            let total: usize = chunks.iter().map(|c| c.text.chars().count()).sum();
            let expected: usize = entries.iter().map(|e| format!("[{}] {}", e.stamp, e.text).chars().count()).sum();
            prop_assert!(total >= expected);
        }
    }

    #[test]
    fn emoji_are_measured_as_telegram_counts_them() {
        // 2,045 emoji are 4,090 units; the stamp pushes the line past 4,096.
        let text = "😀".repeat(2045);
        let chunks = merge(&[Entry { stamp: "12:00", text: &text }, Entry { stamp: "12:01", text: "next" }]);
        assert!(chunks.len() >= 2);
        for c in &chunks {
            assert!(utf16_len(&c.text) <= TELEGRAM_TEXT_LIMIT);
        }
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().concat();
        assert_eq!(joined.matches('😀').count(), 2045);
        let all: Vec<usize> = chunks.iter().flat_map(|c| c.completes.clone()).collect();
        assert_eq!(all, vec![0, 1]);
    }
}
