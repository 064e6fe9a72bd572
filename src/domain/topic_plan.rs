//! What a lead's staff topic needs next: the one rule book of the topic sync. The per-lead
//! sync (`staff::topic`) and the batched hot path (`staff::batch`) both read the lead, call
//! [`plan`], and carry out what it says; neither decides on its own.
//!
//! The order is fixed: the topic must exist in the right group and be open before its card
//! is sent or edited; the card must be current before the waiting messages are posted (a
//! manager reads the card first); a customer still typing into a busy group is given a
//! moment so that the burst costs one send; the card's "last message" line is refreshed
//! last, once the customer has been quiet for a moment, so it never delays a message.

/// How long a busy group waits for a customer's burst to end before posting it.
pub const COALESCE_MS: i64 = 3_000;
/// How long a customer stays quiet before the card's "last message" line is refreshed.
pub const PREVIEW_QUIET_MS: i64 = 2_000;
/// How long a card's preview refresh waits when the group has no budget to spare.
pub const PREVIEW_RETRY_MS: i64 = 20_000;

/// What the sync knows about one lead's topic when it plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The group the topic belongs in now (`routing::topic_group`).
    pub target: i64,
    /// The stored topic: its group and thread, either possibly unknown.
    pub chat: Option<i64>,
    pub thread: Option<i32>,
    /// A person closed the topic.
    pub closed: bool,
    /// The card's message, if it was ever posted, and whether the lead changed since it
    /// was last rendered.
    pub card_posted: bool,
    pub card_behind: bool,
    /// A customer message arrived since the card's "last message" line was rendered.
    pub preview_behind: bool,
    /// The waiting messages: how many, when the newest of them (and the newest from the
    /// customer) was stored.
    pub pending: usize,
    pub newest_pending: Option<i64>,
    pub newest_incoming: Option<i64>,
    /// The group has more than half its minute's budget left.
    pub headroom: bool,
    pub now: i64,
}

/// The topic itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// It exists, open, in the right group.
    Ready { chat: i64, thread: i32 },
    /// Create one in the target group. When the lead had a topic in another group (it was
    /// claimed, or its owner's group changed), that one is closed and its card marked as
    /// moved first.
    Create { close_old: Option<(i64, i32)> },
    /// It is where it belongs, but a person closed it.
    Reopen { chat: i64, thread: i32 },
}

/// The waiting messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Post {
    Nothing,
    /// Post them now, merged.
    Now,
    /// The customer is still typing and the group is busy: look again at this time.
    WaitForBurst(i64),
}

/// The card's "last message" line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preview {
    /// Nothing new to show.
    Current,
    /// Messages are still coming: look again once the customer has been quiet.
    AfterQuiet(i64),
    /// Refresh it if the group has budget to spare then; else look again after
    /// [`PREVIEW_RETRY_MS`].
    Refresh,
}

/// Everything one pass of the sync should do, in order. When the topic is not
/// [`Topic::Ready`] the sync acts on it, reads the lead again and plans anew; the other
/// fields then describe the pass after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub topic: Topic,
    /// Send the card (no message yet) or edit it (behind).
    pub card: bool,
    pub post: Post,
    pub preview: Preview,
}

impl Plan {
    /// The lead's topic is already in order and only needs the waiting messages posted:
    /// the batched hot path takes exactly these.
    pub fn is_only_posting(&self) -> bool {
        matches!(self.topic, Topic::Ready { .. }) && !self.card && self.post == Post::Now
    }
}

pub fn plan(f: &Facts) -> Plan {
    let topic = match (f.chat, f.thread) {
        (Some(chat), Some(thread)) if chat == f.target && f.closed => Topic::Reopen { chat, thread },
        (Some(chat), Some(thread)) if chat == f.target => Topic::Ready { chat, thread },
        (Some(chat), Some(thread)) => Topic::Create { close_old: Some((chat, thread)) },
        _ => Topic::Create { close_old: None },
    };
    let card = !f.card_posted || f.card_behind;
    let post = match f.newest_incoming {
        _ if f.pending == 0 => Post::Nothing,
        Some(t) if t + COALESCE_MS > f.now && !f.headroom => Post::WaitForBurst(t + COALESCE_MS),
        _ => Post::Now,
    };
    let preview = match f.newest_pending {
        // Sending or editing the card renders its "last message" line too.
        _ if !f.preview_behind || card => Preview::Current,
        Some(t) if f.pending > 0 && t + PREVIEW_QUIET_MS > f.now => Preview::AfterQuiet(t + PREVIEW_QUIET_MS),
        _ => Preview::Refresh,
    };
    Plan { topic, card, post, preview }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const Q: i64 = -100;
    const G: i64 = -200;

    /// A lead in order: topic in the queue, card current, nothing waiting.
    fn settled() -> Facts {
        Facts {
            target: Q,
            chat: Some(Q),
            thread: Some(7),
            closed: false,
            card_posted: true,
            card_behind: false,
            preview_behind: false,
            pending: 0,
            newest_pending: None,
            newest_incoming: None,
            headroom: true,
            now: NOW,
        }
    }

    fn waiting(f: Facts, age_ms: i64, incoming: bool) -> Facts {
        let at = NOW - age_ms;
        Facts {
            pending: 1,
            newest_pending: Some(at),
            newest_incoming: incoming.then_some(at),
            preview_behind: incoming || f.preview_behind,
            ..f
        }
    }

    #[test]
    fn a_settled_lead_needs_nothing() {
        let p = plan(&settled());
        assert_eq!(
            p,
            Plan {
                topic: Topic::Ready { chat: Q, thread: 7 },
                card: false,
                post: Post::Nothing,
                preview: Preview::Current
            }
        );
        assert!(!p.is_only_posting());
    }

    #[test]
    fn the_topic_in_every_state() {
        let cases = [
            // (stored chat, stored thread, closed, target) -> topic
            (None, None, false, Q, Topic::Create { close_old: None }),
            (Some(Q), None, false, Q, Topic::Create { close_old: None }),
            (None, Some(7), false, Q, Topic::Create { close_old: None }),
            (Some(Q), Some(7), false, Q, Topic::Ready { chat: Q, thread: 7 }),
            (Some(Q), Some(7), true, Q, Topic::Reopen { chat: Q, thread: 7 }),
            // Claimed into another group: the old one is closed, open or not.
            (Some(Q), Some(7), false, G, Topic::Create { close_old: Some((Q, 7)) }),
            (Some(Q), Some(7), true, G, Topic::Create { close_old: Some((Q, 7)) }),
            (Some(Q), None, false, G, Topic::Create { close_old: None }),
            (Some(G), Some(9), false, G, Topic::Ready { chat: G, thread: 9 }),
        ];
        for (chat, thread, closed, target, want) in cases {
            let f = Facts { chat, thread, closed, target, ..settled() };
            assert_eq!(plan(&f).topic, want, "{chat:?} {thread:?} closed={closed} target={target}");
        }
    }

    #[test]
    fn the_card_is_sent_when_missing_and_edited_when_behind() {
        for (posted, behind, want) in
            [(false, false, true), (false, true, true), (true, true, true), (true, false, false)]
        {
            let f = Facts { card_posted: posted, card_behind: behind, ..settled() };
            assert_eq!(plan(&f).card, want, "posted={posted} behind={behind}");
        }
    }

    #[test]
    fn waiting_messages_are_posted_at_once_when_the_group_has_budget() {
        for age in [0, 1, COALESCE_MS - 1, COALESCE_MS, 60_000] {
            let p = plan(&waiting(settled(), age, true));
            assert_eq!(p.post, Post::Now, "age {age}");
            assert!(p.is_only_posting());
        }
    }

    #[test]
    fn a_customer_still_typing_into_a_busy_group_is_given_a_moment() {
        let busy = Facts { headroom: false, ..settled() };
        let at = NOW - 1_000;
        assert_eq!(plan(&waiting(busy, 1_000, true)).post, Post::WaitForBurst(at + COALESCE_MS));
        assert_eq!(plan(&waiting(busy, 0, true)).post, Post::WaitForBurst(NOW + COALESCE_MS));
        // The burst is over: post, busy or not.
        assert_eq!(plan(&waiting(busy, COALESCE_MS, true)).post, Post::Now);
        // Only the customer's typing is waited for: the bot's and the system's lines go.
        assert_eq!(plan(&waiting(busy, 0, false)).post, Post::Now);
        // A wait is not "only posting": the batch leaves it to the per-lead sync.
        assert!(!plan(&waiting(busy, 0, true)).is_only_posting());
    }

    #[test]
    fn nothing_waiting_means_nothing_to_post_whatever_the_budget() {
        for headroom in [true, false] {
            let f = Facts { headroom, newest_incoming: Some(NOW), ..settled() };
            assert_eq!(plan(&f).post, Post::Nothing);
        }
    }

    #[test]
    fn the_preview_waits_for_quiet_then_refreshes() {
        // Messages still to post: look again once the customer is quiet.
        let p = plan(&waiting(settled(), 500, true));
        assert_eq!(p.preview, Preview::AfterQuiet(NOW - 500 + PREVIEW_QUIET_MS));
        // Quiet long enough already.
        assert_eq!(plan(&waiting(settled(), PREVIEW_QUIET_MS, true)).preview, Preview::Refresh);
        // Posted already (nothing waiting) and behind: refresh.
        let f = Facts { preview_behind: true, ..settled() };
        assert_eq!(plan(&f).preview, Preview::Refresh);
        // Not behind: nothing, even with messages waiting.
        let f = Facts { preview_behind: false, ..waiting(settled(), 0, false) };
        assert_eq!(plan(&f).preview, Preview::Current);
        // A card being sent or edited carries the line: no second edit for it.
        for f in [
            Facts { card_posted: false, ..waiting(settled(), 0, true) },
            Facts { card_behind: true, preview_behind: true, ..settled() },
        ] {
            assert!(plan(&f).card);
            assert_eq!(plan(&f).preview, Preview::Current, "{f:?}");
        }
    }

    #[test]
    fn only_a_lead_in_order_with_messages_to_post_is_the_hot_case() {
        let hot = waiting(settled(), 10, true);
        assert!(plan(&hot).is_only_posting());
        let not_hot = [
            Facts { card_behind: true, ..hot },
            Facts { card_posted: false, ..hot },
            Facts { closed: true, ..hot },
            Facts { target: G, ..hot },
            Facts { thread: None, ..hot },
            Facts { pending: 0, ..hot },
            Facts { headroom: false, ..hot },
        ];
        for f in not_hot {
            assert!(!plan(&f).is_only_posting(), "{f:?}");
        }
    }

    /// Every combination of the facts: the plan is total, and its parts are consistent.
    #[test]
    fn every_combination_plans_consistently() {
        let b = [false, true];
        for chat in [None, Some(Q), Some(G)] {
            for thread in [None, Some(7)] {
                for closed in b {
                    for card_posted in b {
                        for card_behind in b {
                            for preview_behind in b {
                                for headroom in b {
                                    for (pending, age, incoming) in
                                        [(0, 0, false), (1, 0, true), (1, 0, false), (2, 10_000, true)]
                                    {
                                        let at = NOW - age;
                                        let f = Facts {
                                            target: Q,
                                            chat,
                                            thread,
                                            closed,
                                            card_posted,
                                            card_behind,
                                            preview_behind,
                                            pending,
                                            newest_pending: (pending > 0).then_some(at),
                                            newest_incoming: (pending > 0 && incoming).then_some(at),
                                            headroom,
                                            now: NOW,
                                        };
                                        let p = plan(&f);
                                        let ready = chat == Some(Q) && thread.is_some() && !closed;
                                        assert_eq!(matches!(p.topic, Topic::Ready { .. }), ready, "{f:?}");
                                        assert_eq!(p.card, !card_posted || card_behind);
                                        assert_eq!(p.post == Post::Nothing, pending == 0);
                                        if let Post::WaitForBurst(t) = p.post {
                                            assert!(t > NOW && !headroom && incoming);
                                        }
                                        if let Preview::AfterQuiet(t) = p.preview {
                                            assert!(t > NOW && preview_behind && pending > 0);
                                        }
                                        assert_eq!(p.preview == Preview::Current, !preview_behind || p.card);
                                        assert_eq!(p.is_only_posting(), ready && !p.card && p.post == Post::Now,);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
