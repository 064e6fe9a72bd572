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

#[cfg(test)]
mod tests {
    use super::*;

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
