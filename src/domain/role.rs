//! Staff roles and what each may do.

use serde::{Deserialize, Serialize};

/// A staff member's role, stored as text with a CHECK constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Manager,
    Supervisor,
    Admin,
    Analyst,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Manager, Role::Supervisor, Role::Admin, Role::Analyst];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim().to_ascii_lowercase())
    }

    /// Supervisors and admins act on every lead and may move stages backwards.
    pub fn is_supervising(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }

    /// Everyone's open tasks (`/tasks all`): supervisors, admins and analysts; a manager
    /// sees their own.
    pub fn sees_all_tasks(self) -> bool {
        !matches!(self, Role::Manager)
    }

    /// Supervisors and admins review calls against the script; managers and analysts do not.
    pub fn may_review(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }

    /// Analysts read; they never change a lead or write to a customer.
    pub fn may_act(self) -> bool {
        !matches!(self, Role::Analyst)
    }

    /// The reporting page: supervisors, admins and analysts see every lead and figure; a
    /// manager only their own.
    pub fn sees_all_leads(self) -> bool {
        !matches!(self, Role::Manager)
    }

    /// Whether `me`, of this role, may open a lead owned by `owner` on the reporting page
    /// (an unassigned lead is not a manager's).
    pub fn may_see_lead(self, me: super::UserId, owner: Option<super::UserId>) -> bool {
        self.sees_all_leads() || owner == Some(me)
    }

    /// Digests in chat go to supervisors (not admins or analysts, not managers).
    pub fn gets_digests(self) -> bool {
        matches!(self, Role::Supervisor)
    }

    /// Only admins change what the bot says to customers (flow uploads and rollbacks).
    pub fn may_edit_flows(self) -> bool {
        matches!(self, Role::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_sees_only_their_own_leads_in_the_reports_and_supervisors_get_digests() {
        use crate::domain::UserId;
        let (me, other) = (UserId(1), UserId(2));
        assert!(Role::Manager.may_see_lead(me, Some(me)));
        assert!(!Role::Manager.may_see_lead(me, Some(other)));
        assert!(!Role::Manager.may_see_lead(me, None), "an unassigned lead is not theirs");
        for r in [Role::Supervisor, Role::Admin, Role::Analyst] {
            assert!(r.may_see_lead(me, Some(other)) && r.may_see_lead(me, None), "{r}");
        }
        let digests: Vec<Role> = Role::ALL.into_iter().filter(|r| r.gets_digests()).collect();
        assert_eq!(digests, vec![Role::Supervisor]);
    }

    #[test]
    fn every_role_round_trips_through_its_name() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse(" Manager "), Some(Role::Manager));
        assert_eq!(Role::parse("owner"), None);
    }

    #[test]
    fn only_admins_edit_flows() {
        for r in Role::ALL {
            assert_eq!(r.may_edit_flows(), r == Role::Admin, "{r}");
        }
    }

    #[test]
    fn who_reviews_calls_and_sees_everyones_tasks() {
        for r in Role::ALL {
            assert_eq!(r.may_review(), matches!(r, Role::Supervisor | Role::Admin), "{r}");
            assert_eq!(r.sees_all_tasks(), r != Role::Manager, "{r}");
        }
    }
}
