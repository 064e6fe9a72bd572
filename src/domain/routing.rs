//! Which staff group a lead's topic lives in. The first configured group is the queue of
//! unclaimed leads; a claimed lead lives in its owner's group — the one set for the user,
//! else the groups after the first shared out by user id.

use super::UserId;

/// The staff group for a lead, given the configured groups (never empty), its owner (and
/// the owner's own group, if set) and the group its topic is in now.
pub fn topic_group(groups: &[i64], owner: Option<(UserId, Option<i64>)>, current: Option<i64>) -> i64 {
    match owner {
        Some((user, configured)) => owner_group(groups, user, configured),
        // An unclaimed lead stays where it is (a supervisor may have un-assigned it).
        None => current.filter(|c| groups.contains(c)).unwrap_or(groups[0]),
    }
}

/// A user's group: their configured one if it is a staff group, else one of the groups
/// after the queue, by user id (the queue itself when it is the only group).
pub fn owner_group(groups: &[i64], user: UserId, configured: Option<i64>) -> i64 {
    if let Some(c) = configured.filter(|c| groups.contains(c)) {
        return c;
    }
    if groups.len() == 1 {
        return groups[0];
    }
    groups[1 + (user.0.unsigned_abs() as usize % (groups.len() - 1))]
}

/// The lead a topic's title names: the number after its first `#` (titles are rendered
/// from templates/staff/topic_name.txt, `#{{ lead.id }} · …`).
pub fn lead_in_topic_title(title: &str) -> Option<super::LeadId> {
    let rest = &title[title.find('#')? + 1..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().map(super::LeadId)
}

/// What to do with a topic the bot created (seen by its `forum_topic_created` message),
/// named for a lead whose stored topic is `stored` and which belongs in group `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedTopic {
    /// The lead's own topic: nothing to do.
    Ours,
    /// The lead has no topic where it belongs (its creation was never stored, say after a
    /// crash): this one becomes its topic.
    Adopt,
    /// The lead has another topic where it belongs: this one is an orphan, to delete.
    Orphan,
}

pub fn created_topic(stored: (Option<i64>, Option<i32>), target: i64, created: (i64, i32)) -> CreatedTopic {
    let (chat, thread) = created;
    match stored {
        (Some(c), Some(t)) if (c, t) == (chat, thread) => CreatedTopic::Ours,
        (Some(c), Some(_)) if c == target => CreatedTopic::Orphan,
        _ if chat == target => CreatedTopic::Adopt,
        _ => CreatedTopic::Orphan,
    }
}

/// A link to a forum topic in a supergroup (`https://t.me/c/<group>/<topic>`), which opens
/// for members of the group. `None` for a chat that is not a supergroup (`-100…`).
pub fn topic_link(chat: i64, thread: i32) -> Option<String> {
    let group = chat.to_string();
    let group = group.strip_prefix("-100")?;
    Some(format!("https://t.me/c/{group}/{thread}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_links_open_the_topic() {
        assert_eq!(topic_link(-1001234567890, 42).as_deref(), Some("https://t.me/c/1234567890/42"));
        assert_eq!(topic_link(-4567, 42), None, "a basic group has no such links");
    }

    #[test]
    fn topic_titles_name_their_lead() {
        assert_eq!(lead_in_topic_title("#12 · Olena · Viber"), Some(super::super::LeadId(12)));
        assert_eq!(lead_in_topic_title("Lead #7"), Some(super::super::LeadId(7)));
        assert_eq!(lead_in_topic_title("General"), None);
        assert_eq!(lead_in_topic_title("# · x"), None);
    }

    #[test]
    fn a_created_topic_is_ours_adopted_or_an_orphan() {
        use CreatedTopic::*;
        // Stored already: ours.
        assert_eq!(created_topic((Some(-1), Some(5)), -1, (-1, 5)), Ours);
        // Never stored (a crash between create and store), in the right group: adopted.
        assert_eq!(created_topic((None, None), -1, (-1, 5)), Adopt);
        assert_eq!(created_topic((Some(-1), None), -1, (-1, 5)), Adopt, "a deleted topic's lead");
        // Moving to the owner's group: the old topic is stored, the new one is adopted.
        assert_eq!(created_topic((Some(-1), Some(3)), -2, (-2, 9)), Adopt);
        // The lead has another topic where it belongs: an orphan.
        assert_eq!(created_topic((Some(-1), Some(3)), -1, (-1, 5)), Orphan);
        // Created in a group the lead does not belong in: an orphan.
        assert_eq!(created_topic((None, None), -2, (-1, 5)), Orphan);
        assert_eq!(created_topic((Some(-2), Some(4)), -2, (-1, 5)), Orphan);
    }

    const G: [i64; 3] = [-1, -2, -3];

    #[test]
    fn unclaimed_leads_wait_in_the_queue_or_stay_where_they_are() {
        assert_eq!(topic_group(&G, None, None), -1);
        assert_eq!(topic_group(&G, None, Some(-3)), -3);
        assert_eq!(topic_group(&G, None, Some(-99)), -1, "a group no longer configured");
    }

    #[test]
    fn claimed_leads_live_in_their_owners_group() {
        assert_eq!(topic_group(&G, Some((UserId(7), Some(-3))), Some(-1)), -3);
        assert_eq!(topic_group(&G, Some((UserId(7), Some(-99))), None), -3, "7 % 2 = 1 → the second team group");
        assert_eq!(topic_group(&G, Some((UserId(8), None)), None), -2);
        assert_eq!(topic_group(&[-1], Some((UserId(8), Some(-5))), None), -1, "one group serves everyone");
        // every user lands in a team group, never the queue, when there are teams
        for u in 0..50 {
            assert_ne!(owner_group(&G, UserId(u), None), -1);
        }
    }
}
