//! What happens to an outgoing message after we hand it to a messenger: delivery receipts
//! that only move forward (providers send them out of order and more than once), and
//! WhatsApp's 24-hour customer-service window.

/// A provider's report about one outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Receipt {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl Receipt {
    pub const ALL: [Receipt; 4] = [Receipt::Sent, Receipt::Delivered, Receipt::Read, Receipt::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Receipt::Sent => "sent",
            Receipt::Delivered => "delivered",
            Receipt::Read => "read",
            Receipt::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Receipt> {
        Receipt::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Viber's event names (`seen` is Viber's `read`).
    pub fn from_viber_event(event: &str) -> Option<Receipt> {
        match event {
            "delivered" => Some(Receipt::Delivered),
            "seen" => Some(Receipt::Read),
            "failed" => Some(Receipt::Failed),
            _ => None,
        }
    }
}

/// The state after `incoming` arrives on top of `current`, or `None` when it changes
/// nothing. Receipts never move backwards: a late `delivered` after `read` is ignored. A
/// failure counts only before the customer's phone has the message (WhatsApp reports a
/// closed window as `failed` after `sent`); once failed, the message stays failed.
pub fn advance(current: Option<Receipt>, incoming: Receipt) -> Option<Receipt> {
    use Receipt::*;
    let rank = |r: Receipt| match r {
        Sent => 1,
        Delivered => 2,
        Read => 3,
        Failed => 0,
    };
    match (current, incoming) {
        (None, r) => Some(r),
        (Some(Failed), _) => None,
        (Some(c), Failed) => (rank(c) < rank(Delivered)).then_some(Failed),
        (Some(c), r) => (rank(r) > rank(c)).then_some(r),
    }
}

/// WhatsApp lets a business write freely for 24 hours after the customer's last message;
/// after that only an approved template may be sent.
pub const WHATSAPP_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether a free-form WhatsApp message may be sent now, given the customer's last
/// message time as WhatsApp reported it.
pub fn whatsapp_window_open(last_inbound_at: Option<i64>, now: i64) -> bool {
    last_inbound_at.is_some_and(|t| now < t + WHATSAPP_WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::Receipt::*;
    use super::*;

    #[test]
    fn receipts_only_move_forward() {
        // (current, incoming) -> result, for every pair.
        let table: &[(Option<Receipt>, Receipt, Option<Receipt>)] = &[
            (None, Sent, Some(Sent)),
            (None, Delivered, Some(Delivered)),
            (None, Read, Some(Read)),
            (None, Failed, Some(Failed)),
            (Some(Sent), Sent, None),
            (Some(Sent), Delivered, Some(Delivered)),
            (Some(Sent), Read, Some(Read)),
            (Some(Sent), Failed, Some(Failed)),
            (Some(Delivered), Sent, None),
            (Some(Delivered), Delivered, None),
            (Some(Delivered), Read, Some(Read)),
            (Some(Delivered), Failed, None),
            (Some(Read), Sent, None),
            (Some(Read), Delivered, None),
            (Some(Read), Read, None),
            (Some(Read), Failed, None),
            (Some(Failed), Sent, None),
            (Some(Failed), Delivered, None),
            (Some(Failed), Read, None),
            (Some(Failed), Failed, None),
        ];
        assert_eq!(table.len(), 20, "every pair is listed");
        for (cur, inc, want) in table {
            assert_eq!(advance(*cur, *inc), *want, "{cur:?} + {inc:?}");
        }
    }

    #[test]
    fn any_order_of_receipts_ends_in_the_furthest_state() {
        // All orders of sent, delivered, read end at read.
        let orders = [
            [Sent, Delivered, Read],
            [Sent, Read, Delivered],
            [Delivered, Sent, Read],
            [Delivered, Read, Sent],
            [Read, Sent, Delivered],
            [Read, Delivered, Sent],
        ];
        for order in orders {
            let mut state = None;
            for r in order {
                if let Some(n) = advance(state, r) {
                    state = Some(n);
                }
            }
            assert_eq!(state, Some(Read), "{order:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for r in Receipt::ALL {
            assert_eq!(Receipt::parse(r.as_str()), Some(r));
        }
        assert_eq!(Receipt::from_viber_event("seen"), Some(Read));
        assert_eq!(Receipt::from_viber_event("message"), None);
    }

    #[test]
    fn the_window_is_24_hours_from_the_last_customer_message() {
        let t = 1_000_000_000_000;
        assert!(!whatsapp_window_open(None, t), "never wrote: closed");
        assert!(whatsapp_window_open(Some(t), t));
        assert!(whatsapp_window_open(Some(t), t + WHATSAPP_WINDOW_MS - 1));
        assert!(!whatsapp_window_open(Some(t), t + WHATSAPP_WINDOW_MS));
    }
}
