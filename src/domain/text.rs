//! Text within the messengers' real limits: Telegram measures in UTF-16 code units (an
//! emoji outside the Basic Multilingual Plane is two), names are capped and cleaned of
//! control and bidirectional-override characters, and a provider's clock is checked
//! against a sane window. Pure functions; the channel adapters and the staff side use them.

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const TELEGRAM_TEXT: usize = super::flow::limits::TELEGRAM_TEXT;
/// Telegram's limit on a caption, in UTF-16 code units.
pub const TELEGRAM_CAPTION: usize = 1024;
/// Telegram's limit on a forum topic's name (characters; kept in UTF-16 units to be safe).
pub const TELEGRAM_TOPIC_NAME: usize = 128;
/// The longest name Forecourt keeps (characters).
pub const NAME_MAX: usize = 256;
/// The longest text each messenger lets a customer send (characters as the messenger
/// counts them); anything longer did not come from the messenger.
pub const VIBER_TEXT_MAX: usize = super::flow::limits::VIBER_TEXT;
pub const WHATSAPP_TEXT_MAX: usize = super::flow::limits::WHATSAPP_TEXT;

/// How far ahead of our clock a provider's time stamp may be before it is not believed.
pub const FUTURE_SLACK_MS: i64 = 10 * 60 * 1_000;
/// How far behind: older than this is not a real message time (a year).
pub const PAST_SLACK_MS: i64 = 366 * 24 * 60 * 60 * 1_000;

/// Length as Telegram counts it.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Split `text` into pieces of at most `limit` UTF-16 units, never inside a character,
/// preferring to cut after a line break or a space in the last eighth of a piece. Every
/// piece is non-empty; joined, they are the text. `limit` below 2 is taken as 2 (one
/// astral character needs two units).
pub fn split_utf16(text: &str, limit: usize) -> Vec<&str> {
    let limit = limit.max(2);
    let mut out = Vec::new();
    let mut rest = text;
    while utf16_len(rest) > limit {
        // The byte index where `limit` units are used up, on a char boundary.
        let mut units = 0;
        let mut hard = 0;
        let mut soft = None;
        for (i, c) in rest.char_indices() {
            let n = c.len_utf16();
            if units + n > limit {
                break;
            }
            units += n;
            hard = i + c.len_utf8();
            if (c == '\n' || c == ' ') && units >= limit - limit / 8 {
                soft = Some(hard);
            }
        }
        let cut = soft.unwrap_or(hard);
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

/// The longest prefix of `s` within `limit` UTF-16 units (on a char boundary).
pub fn prefix_utf16(s: &str, limit: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > limit {
            return &s[..i];
        }
    }
    s
}

/// Characters that must never reach a name, a topic title or a relayed text: C0 and C1
/// controls (but tab and line breaks in texts), and the bidirectional overrides and
/// isolates that can make a title read backwards.
fn is_hostile(c: char, in_text: bool) -> bool {
    match c {
        '\n' | '\t' | '\r' => !in_text,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' => true,
        c => c.is_control(),
    }
}

/// A name as Forecourt keeps it: hostile characters gone, whitespace collapsed, at most
/// `NAME_MAX` characters (cut with an ellipsis).
pub fn clean_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if is_hostile(c, false) { ' ' } else { c }).collect();
    let joined = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    cap_chars(&joined, NAME_MAX)
}

/// A customer's text as it is relayed: NUL and other control characters (but tab and line
/// breaks) and bidirectional overrides removed; nothing else changes.
pub fn clean_text(text: &str) -> String {
    if !text.chars().any(|c| is_hostile(c, true)) {
        return text.to_string();
    }
    text.chars().filter(|c| !is_hostile(*c, true)).collect()
}

/// At most `max` characters; a cut one ends with "…".
pub fn cap_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// How much of one free-text field (a customer's typed answer) a card shows.
pub const CARD_FIELD: usize = 300;

/// A card's text within Telegram's limit: cut (with "…") if its fields still made it too
/// long, so a card is always posted rather than refused for ever.
pub fn fit_message(text: &str) -> String {
    if utf16_len(text) <= TELEGRAM_TEXT {
        return text.to_string();
    }
    let mut cut = prefix_utf16(text, TELEGRAM_TEXT - 1).to_string();
    cut.push('…');
    cut
}

/// A forum topic's title from its parts: the name part is cut (with "…") so that the
/// whole title, suffix included, fits Telegram's limit; the suffix is never cut.
pub fn topic_title(prefix: &str, name: &str, suffix: &str) -> String {
    let strip = |s: &str| s.chars().filter(|c| !is_hostile(*c, false)).collect::<String>();
    let (prefix, suffix) = (strip(prefix), strip(suffix));
    let name = clean_name(name);
    let fixed = prefix.chars().count() + suffix.chars().count();
    let room = TELEGRAM_TOPIC_NAME.saturating_sub(fixed);
    let name = cap_chars(&name, room);
    let title = format!("{prefix}{name}{suffix}");
    // The suffix alone could be over the limit only through a template edit.
    title.chars().take(TELEGRAM_TOPIC_NAME).collect()
}

/// A provider's time stamp, believed only within a sane window around our clock: a time
/// too far ahead (or absurdly old, or negative) is taken as `now`. Returns the time to keep
/// and whether it was replaced.
pub fn sane_time(reported: i64, now: i64) -> (i64, bool) {
    if reported > now.saturating_add(FUTURE_SLACK_MS) || reported < now.saturating_sub(PAST_SLACK_MS) {
        (now, true)
    } else {
        (reported, false)
    }
}

/// Seconds since the epoch as milliseconds, or `None` when it overflows.
pub fn seconds_to_ms(s: i64) -> Option<i64> {
    s.checked_mul(1_000)
}

/// A waiting time as staff read it: `45 s`, `12 min`, `2 h 05 min`, `3 d 4 h`.
pub fn duration_short(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3_600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {:02} min", s / 3_600, (s % 3_600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short() {
        assert_eq!(duration_short(-3), "0 s");
        assert_eq!(duration_short(45), "45 s");
        assert_eq!(duration_short(12 * 60 + 59), "12 min");
        assert_eq!(duration_short(2 * 3600 + 5 * 60), "2 h 05 min");
        assert_eq!(duration_short(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }
    use proptest::prelude::*;

    #[test]
    fn emoji_count_twice() {
        assert_eq!(utf16_len("a"), 1);
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len(&"😀".repeat(2045)), 4090);
    }

    #[test]
    fn splitting_keeps_characters_whole_and_prefers_spaces() {
        let s = "😀".repeat(5);
        let parts = split_utf16(&s, 3);
        assert!(parts.iter().all(|p| utf16_len(p) <= 3 && !p.is_empty()));
        assert_eq!(parts.concat(), s);
        let parts = split_utf16("hello world, again", 14);
        assert_eq!(parts, vec!["hello world, ", "again"]);
        assert_eq!(split_utf16("", 10), vec![""]);
    }

    #[test]
    fn names_lose_controls_and_overrides_and_are_capped() {
        assert_eq!(clean_name("Olena\u{202E}anelO"), "Olena anelO");
        assert_eq!(clean_name("A\u{0}B\n C"), "A B C");
        let long = clean_name(&"x".repeat(100_000));
        assert_eq!(long.chars().count(), NAME_MAX);
        assert!(long.ends_with('…'));
        assert_eq!(clean_text("line\none\u{0}\u{202E}"), "line\none");
    }

    #[test]
    fn a_cut_title_keeps_its_suffix() {
        let t = topic_title("#12 · ", &"Я".repeat(500), " · Viber");
        assert_eq!(t.chars().count(), TELEGRAM_TOPIC_NAME);
        assert!(t.starts_with("#12 · Я"));
        assert!(t.ends_with("… · Viber"));
        assert_eq!(topic_title("#1 · ", "Ivan\u{202E}", " · Telegram"), "#1 · Ivan · Telegram");
    }

    #[test]
    fn provider_times_are_checked() {
        let now = 1_800_000_000_000;
        assert_eq!(sane_time(now - 5_000, now), (now - 5_000, false));
        assert_eq!(sane_time(i64::MAX, now), (now, true));
        assert_eq!(sane_time(-1, now), (now, true));
        assert_eq!(sane_time(now + 60_000, now), (now + 60_000, false));
        assert_eq!(seconds_to_ms(i64::MAX), None);
        assert_eq!(seconds_to_ms(1_700_000_000), Some(1_700_000_000_000));
    }

    proptest! {
        #[test]
        fn any_text_splits_within_the_limit(s in "\\PC{0,300}", emoji in 0usize..50, limit in 2usize..200) {
            let s = format!("{s}{}", "👍🏽".repeat(emoji));
            let parts = split_utf16(&s, limit);
            for p in &parts {
                prop_assert!(utf16_len(p) <= limit);
            }
            prop_assert_eq!(parts.concat(), s);
        }

        #[test]
        fn any_card_text_fits_a_message(s in "\\PC{0,100}", emoji in 0usize..3000, tail in "[a-zé ]{0,50}") {
            let text = format!("{s}{}{tail}", "👨‍👩‍👧".repeat(emoji));
            let fit = fit_message(&text);
            prop_assert!(utf16_len(&fit) <= TELEGRAM_TEXT);
            if utf16_len(&text) <= TELEGRAM_TEXT {
                prop_assert_eq!(fit, text);
            }
        }

        #[test]
        fn cleaned_names_hold_no_hostile_characters(s in "\\PC{0,400}|[\u{0}-\u{1f}\u{202a}-\u{202e}a-z ]{0,400}") {
            let n = clean_name(&s);
            prop_assert!(n.chars().count() <= NAME_MAX);
            prop_assert!(!n.chars().any(|c| is_hostile(c, false)));
        }
    }
}
