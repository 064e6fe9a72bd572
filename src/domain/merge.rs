//! Merging customer messages that wait for the same staff topic into as few Telegram
//! messages as possible (each line stamped with its time), within Telegram's 4,096
//! characters. A staff group may receive only about 20 messages a minute, so a burst of
//! ten short messages must cost one send, not ten.

/// Telegram's limit on a message's text, in characters (UTF-16 code units, strictly; we
/// count chars and keep a margin so that astral-plane emoji cannot push us over).
pub const TELEGRAM_TEXT_LIMIT: usize = 4096;
const SAFE_LIMIT: usize = 4000;

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
}

/// Merge entries, in order, into chunks of at most `SAFE_LIMIT` characters.
pub fn merge(entries: &[Entry<'_>]) -> Vec<Chunk> {
    merge_with_limit(entries, SAFE_LIMIT)
}

fn merge_with_limit(entries: &[Entry<'_>], limit: usize) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    let mut completes = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let line = format!("[{}] {}", e.stamp, e.text);
        let line_len = line.chars().count();
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
            chunks.push(Chunk { text: std::mem::take(&mut current), completes: std::mem::take(&mut completes) });
        }
        let chars: Vec<char> = line.chars().collect();
        let mut start = 0;
        while chars.len() - start > limit {
            let piece: String = chars[start..start + limit].iter().collect();
            chunks.push(Chunk { text: piece, completes: Vec::new() });
            start += limit;
        }
        current = chars[start..].iter().collect();
        current_len = chars.len() - start;
        completes.push(i);
    }
    if current_len > 0 {
        chunks.push(Chunk { text: current, completes });
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
            assert!(c.text.chars().count() <= 10, "{c:?}");
        }
        let all: Vec<usize> = chunks.iter().flat_map(|c| c.completes.clone()).collect();
        assert_eq!(all, vec![0, 1, 2]);
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join("");
        assert!(joined.contains(&format!("[2] {long}")));
    }

    proptest! {
        #[test]
        fn nothing_is_lost_and_nothing_exceeds_the_limit(texts in proptest::collection::vec("[a-zé😀 ]{0,60}", 0..30), limit in 8usize..80) {
            let entries: Vec<Entry> = texts.iter().map(|t| Entry { stamp: "12:00", text: t }).collect();
            let chunks = merge_with_limit(&entries, limit);
            let mut done = Vec::new();
            for c in &chunks {
                prop_assert!(c.text.chars().count() <= limit);
                prop_assert!(!c.text.is_empty());
                done.extend(c.completes.iter().copied());
            }
            prop_assert_eq!(done, (0..entries.len()).collect::<Vec<_>>());
            let total: usize = chunks.iter().map(|c| c.text.chars().count()).sum();
            let expected: usize = entries.iter().map(|e| format!("[{}] {}", e.stamp, e.text).chars().count()).sum();
            prop_assert!(total >= expected);
        }
    }

    #[test]
    fn the_safe_limit_is_below_telegrams() {
        const { assert!(SAFE_LIMIT < TELEGRAM_TEXT_LIMIT) };
    }
}
