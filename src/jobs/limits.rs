//! Telegram's sending limits, kept on our side so that a burst is delivered as fast as the
//! limits allow without meeting 429s: about one message a second to a chat (bursts of three),
//! 20 a minute to
//! a group (every topic of a staff group shares that budget), 30 a second for a bot. A 429
//! `retry_after` pauses only the chat it names.
//!
//! The windows carry a 0.1 s margin over Telegram's numbers, because our clock and
//! Telegram's disagree by the request's travel time.

use dashmap::DashMap;
use std::collections::VecDeque;
use std::sync::Mutex;

/// (messages, per milliseconds)
pub type Window = (usize, i64);

pub const PRIVATE: &[Window] = &[(3, 3_100)];
pub const GROUP: &[Window] = &[(20, 60_100), (3, 3_100)];
pub const BOT: Window = (30, 1_100);

/// How long a slot kept for an urgent sender waits for it.
const URGENT_GRACE_MS: i64 = 1_500;

#[derive(Debug, Default)]
struct ChatLog {
    sent: VecDeque<i64>,
    paused_until: i64,
    /// An urgent sender (a call's message) was refused until then: ordinary senders leave it
    /// the next free slot (until a short grace after it).
    urgent_at: Option<i64>,
    /// The next free turn handed to a refused sender. Refused senders get turns one
    /// interval apart instead of all waking at the same instant: with 500 topics waiting
    /// on one group's 20 a minute, that is one wake-up every 3 s, not 500.
    next_turn: i64,
}

/// Per-chat and per-bot sliding windows. Cheap to share between workers.
#[derive(Debug, Default)]
pub struct Limiter {
    off: bool,
    chats: DashMap<(usize, i64), ChatLog>,
    bots: DashMap<usize, Mutex<VecDeque<i64>>>,
}

fn wait_for(log: &VecDeque<i64>, w: Window, now: i64) -> Option<i64> {
    wait_for_n(log, w, now, 1)
}

/// When `n` more sends fit in the window (`None`: now).
fn wait_for_n(log: &VecDeque<i64>, (max, span): Window, now: i64, n: usize) -> Option<i64> {
    let n = n.clamp(1, max);
    let inside = log.iter().rev().take_while(|t| **t > now - span).count();
    if inside + n <= max {
        return None;
    }
    // The sends inside the window, oldest first: the k-th of them must leave.
    let k = inside + n - max;
    Some(log[log.len() - inside + k - 1] + span)
}

impl Limiter {
    pub fn new() -> Limiter {
        Limiter::default()
    }

    /// A limiter that lets everything through (a fake Bot API with its limits off).
    pub fn unlimited() -> Limiter {
        Limiter { off: true, ..Limiter::default() }
    }

    /// Take one send to `chat` by bot `bot` at `now`, or say when to try again.
    pub fn acquire(&self, bot: usize, chat: i64, now: i64) -> Result<(), i64> {
        self.take(bot, chat, now, false)
    }

    /// Take `n` sends at once (a file and the message under it), or none: a sender that
    /// needs two never takes one and waits for the other while the window fills.
    pub fn acquire_n(&self, bot: usize, chat: i64, now: i64, n: usize) -> Result<(), i64> {
        if self.off {
            return Ok(());
        }
        let windows = if chat < 0 { GROUP } else { PRIVATE };
        let mut entry = self.chats.entry((bot, chat)).or_default();
        let mut until = (entry.paused_until > now).then_some(entry.paused_until);
        for w in windows {
            if let Some(t) = wait_for_n(&entry.sent, *w, now, n) {
                until = Some(until.map_or(t, |u| u.max(t)));
            }
        }
        let bot_log = self.bots.entry(bot).or_default();
        let mut bot_sent = bot_log.lock().expect("limiter lock");
        if let Some(t) = wait_for_n(&bot_sent, BOT, now, n) {
            until = Some(until.map_or(t, |u| u.max(t)));
        }
        if let Some(t) = until {
            return Err(t);
        }
        for _ in 0..n {
            entry.sent.push_back(now);
            bot_sent.push_back(now);
        }
        while entry.sent.len() > 32 {
            entry.sent.pop_front();
        }
        while bot_sent.len() > 64 {
            bot_sent.pop_front();
        }
        Ok(())
    }

    /// The same for a send that goes before the others waiting for this chat (a call's
    /// message in a busy staff group): refused, it is told the moment the window frees
    /// rather than a turn in the queue, and that slot is kept for it.
    pub fn acquire_first(&self, bot: usize, chat: i64, now: i64) -> Result<(), i64> {
        self.take(bot, chat, now, true)
    }

    fn take(&self, bot: usize, chat: i64, now: i64, urgent: bool) -> Result<(), i64> {
        if self.off {
            return Ok(());
        }
        let windows = if chat < 0 { GROUP } else { PRIVATE };
        let mut entry = self.chats.entry((bot, chat)).or_default();
        let mut until = (entry.paused_until > now).then_some(entry.paused_until);
        for w in windows {
            if let Some(t) = wait_for(&entry.sent, *w, now) {
                until = Some(until.map_or(t, |u| u.max(t)));
            }
        }
        let bot_log = self.bots.entry(bot).or_default();
        let mut bot_sent = bot_log.lock().expect("limiter lock");
        if let Some(t) = wait_for(&bot_sent, BOT, now) {
            until = Some(until.map_or(t, |u| u.max(t)));
        }
        // An urgent sender's slot is kept for it until shortly after it was due back.
        let reserved = !urgent && entry.urgent_at.is_some_and(|u| now <= u + URGENT_GRACE_MS);
        if reserved && until.is_none() {
            until = entry.urgent_at.map(|u| u + URGENT_GRACE_MS);
        }
        if let Some(t) = until {
            if urgent {
                entry.urgent_at = Some(t);
                return Err(t);
            }
            let interval = windows.iter().map(|(max, span)| span / *max as i64).max().unwrap_or(1_000);
            let turn = t.max(entry.next_turn);
            entry.next_turn = turn + interval;
            return Err(turn);
        }
        if urgent {
            entry.urgent_at = None;
        }
        entry.sent.push_back(now);
        while entry.sent.len() > 32 {
            entry.sent.pop_front();
        }
        bot_sent.push_back(now);
        while bot_sent.len() > 64 {
            bot_sent.pop_front();
        }
        Ok(())
    }

    /// Whether a send to `chat` now would leave the chat's minute half unused: low-priority
    /// sends (refreshing a card's preview) go only then.
    pub fn has_headroom(&self, bot: usize, chat: i64, now: i64) -> bool {
        if self.off {
            return true;
        }
        let windows = if chat < 0 { GROUP } else { PRIVATE };
        let Some(entry) = self.chats.get(&(bot, chat)) else { return true };
        if entry.paused_until > now {
            return false;
        }
        windows.iter().all(|(max, span)| {
            let inside = entry.sent.iter().rev().take_while(|t| **t > now - span).count();
            inside < (max / 2).max(1)
        })
    }

    /// Telegram said 429 for this chat: stop sending to it until `until`.
    pub fn pause(&self, bot: usize, chat: i64, until: i64) {
        let mut entry = self.chats.entry((bot, chat)).or_default();
        entry.paused_until = entry.paused_until.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sends_are_taken_together_or_not_at_all() {
        let l = Limiter::new();
        let chat = 42;
        assert_eq!(l.acquire(0, chat, 0), Ok(()));
        assert_eq!(l.acquire(0, chat, 10), Ok(()));
        // One slot left in the 3-per-3.1 s window: two do not fit, and nothing is taken.
        let until = l.acquire_n(0, chat, 20, 2).unwrap_err();
        assert_eq!(until, 3_100, "when the first send leaves the window");
        assert_eq!(l.acquire(0, chat, 20), Ok(()), "the one slot was left free");
        assert_eq!(l.acquire_n(0, chat, 3_200, 2), Ok(()));
        assert_eq!(l.acquire(0, chat, 3_201), Ok(()), "the third of the window");
        assert!(l.acquire(0, chat, 3_202).is_err(), "the two were both counted");
    }

    #[test]
    fn an_urgent_send_takes_the_next_free_slot_before_the_queue() {
        let l = Limiter::new();
        let g = -100;
        // The group's minute is used up.
        let mut t = 0;
        let mut sent = 0;
        while sent < 20 {
            if l.acquire(0, g, t).is_ok() {
                sent += 1;
            }
            t += 1_000;
        }
        // Ordinary senders queue for turns; the urgent one is told when the window frees.
        let queued: Vec<i64> = (0..5).map(|_| l.acquire(0, g, t).unwrap_err()).collect();
        let free = l.acquire_first(0, g, t).unwrap_err();
        assert!(free <= queued[0], "the urgent send comes back no later than the first in the queue");
        // At that moment an ordinary sender is refused: the slot is kept for the urgent one.
        assert!(l.acquire(0, g, free).is_err());
        assert_eq!(l.acquire_first(0, g, free), Ok(()));
        // A kept slot nobody comes for is given up after the grace.
        let l2 = Limiter::new();
        let mut t = 0;
        let mut sent = 0;
        while sent < 20 {
            if l2.acquire(0, g, t).is_ok() {
                sent += 1;
            }
            t += 1_000;
        }
        let free = l2.acquire_first(0, g, t).unwrap_err();
        assert!(l2.acquire(0, g, free + URGENT_GRACE_MS + 1).is_ok(), "the urgent sender never came back");
    }

    #[test]
    fn a_group_is_held_to_twenty_a_minute_and_one_a_second() {
        let l = Limiter::new();
        let mut sent = 0;
        let mut t = 0;
        while t < 60_100 {
            if l.acquire(0, -100, t).is_ok() {
                sent += 1;
            }
            t += 100;
        }
        assert_eq!(sent, 20);
        // about one a second: a burst of three, then a wait
        let l = Limiter::new();
        for t in [0, 1, 2] {
            assert!(l.acquire(0, -5, t).is_ok());
        }
        assert_eq!(l.acquire(0, -5, 10), Err(3_100));
    }

    #[test]
    fn refused_senders_get_turns_spread_over_the_budget() {
        let l = Limiter::new();
        let mut t = 0;
        while l.acquire(0, -7, t).is_ok() {
            t += 1;
        }
        // Three waiters at the same moment get three different turns, a group interval apart.
        let turns: Vec<i64> = (0..3).map(|_| l.acquire(0, -7, t).unwrap_err()).collect();
        assert_eq!(turns[1] - turns[0], 60_100 / 20);
        assert_eq!(turns[2] - turns[1], 60_100 / 20);
        // A waiter that wakes at its turn may send.
        assert!(l.acquire(0, -7, turns[0]).is_ok());
    }

    #[test]
    fn a_pause_holds_only_its_chat() {
        let l = Limiter::new();
        l.pause(0, 42, 5_000);
        assert_eq!(l.acquire(0, 42, 1_000), Err(5_000));
        assert!(l.acquire(0, 43, 1_000).is_ok());
        assert!(l.acquire(0, 42, 5_000).is_ok());
    }

    #[test]
    fn a_bot_sends_at_most_thirty_a_second() {
        let l = Limiter::new();
        let ok = (0..40).filter(|i| l.acquire(0, 1_000 + i, 0).is_ok()).count();
        assert_eq!(ok, 30);
        assert!(l.acquire(1, 9, 0).is_ok(), "another bot has its own budget");
    }
}
