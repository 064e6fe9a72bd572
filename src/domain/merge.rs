//! Merging customer messages that wait for the same staff topic into as few Telegram
//! messages as possible (each line stamped with its time), within Telegram's 4,096 UTF-16
//! code units (what Telegram counts: an emoji outside the BMP is two). A staff group may
//! receive only about 20 messages a minute, so a burst of ten short messages must cost one
//! send, not ten.

use super::text::{split_utf16, utf16_len};

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const TELEGRAM_TEXT_LIMIT: usize = super::text::TELEGRAM_TEXT;

/// One line to merge: its time stamp (already formatted), its text, and how many parts of
/// it are already posted (a line too long for one message goes out in parts; a send that
/// stopped between two goes on after them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub stamp: &'a str,
    pub text: &'a str,
    pub posted: usize,
}

impl<'a> Entry<'a> {
    /// A line none of which is posted yet.
    pub fn new(stamp: &'a str, text: &'a str) -> Entry<'a> {
        Entry { stamp, text, posted: 0 }
    }
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
        if e.posted == 0 && current_len + sep + line_len <= limit {
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
        // A line split over several messages always starts a message of its own, so its
        // parts are the same however many lines follow it: those already posted (at most
        // all but the last) are left out.
        let mut pieces = split_utf16(&line, limit);
        pieces.drain(..e.posted.min(pieces.len().saturating_sub(1)));
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
        let e = [Entry::new("09:01", "Hi"), Entry::new("09:02", "Is the RAV4 still there?")];
        let chunks = merge(&e);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "[09:01] Hi\n[09:02] Is the RAV4 still there?");
        assert_eq!(chunks[0].completes, vec![0, 1]);
    }

    #[test]
    fn a_long_message_is_split_and_completed_in_its_last_part() {
        let long = "x".repeat(25);
        let e = [Entry::new("1", "a"), Entry::new("2", &long), Entry::new("3", "b")];
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
            let entries: Vec<Entry> = texts.iter().map(|t| Entry::new("12:00", t)).collect();
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
    fn a_line_posted_in_part_goes_on_after_its_posted_parts() {
        let long = "y".repeat(25);
        let fresh = [Entry::new("1", &long), Entry::new("2", "b")];
        let all = merge_with_limit(&fresh, 10);
        assert_eq!(all.len(), 4, "three parts, then the next line: {all:?}");
        for posted in 1..=2 {
            let again = merge_with_limit(&[Entry { posted, ..fresh[0].clone() }, fresh[1].clone()], 10);
            assert_eq!(again, all[posted..].to_vec(), "{posted} parts posted");
        }
        // Never more than all but the last part is left out: its last part finishes it.
        let again = merge_with_limit(&[Entry { posted: 9, ..fresh[0].clone() }, fresh[1].clone()], 10);
        assert_eq!(again, all[2..].to_vec());
    }

    proptest! {
        #[test]
        fn a_send_that_stops_between_parts_goes_on_where_it_stopped(
            first in "[a-z😀 ]{20,200}", rest in proptest::collection::vec("[a-z😀 ]{0,30}", 0..6), limit in 8usize..40
        ) {
            let mut entries = vec![Entry::new("09:00", &first)];
            entries.extend(rest.iter().map(|t| Entry::new("09:01", t)));
            let all = merge_with_limit(&entries, limit);
            // The chunks before the one that finishes the first line are its parts alone.
            let parts = all.iter().take_while(|c| c.completes.is_empty()).count();
            for posted in 0..=parts {
                entries[0].posted = posted;
                prop_assert_eq!(merge_with_limit(&entries, limit), all[posted..].to_vec());
            }
        }
    }

    #[test]
    fn emoji_are_measured_as_telegram_counts_them() {
        // 2,045 emoji are 4,090 units; the stamp pushes the line past 4,096.
        let text = "😀".repeat(2045);
        let chunks = merge(&[Entry::new("12:00", &text), Entry::new("12:01", "next")]);
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
