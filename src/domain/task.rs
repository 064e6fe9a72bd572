//! Tasks: work for a person with a due time — a callback after a missed call (issue 12), or
//! a task a manager writes down (issue 13). Who may close one.

use super::lead::{may_act_on, Actor, LeadFacts, RuleError};
use super::UserId;

/// What kind of work a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Callback,
    Manual,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Callback => "callback",
            TaskKind::Manual => "manual",
        }
    }
    pub fn parse(s: &str) -> Option<TaskKind> {
        match s {
            "callback" => Some(TaskKind::Callback),
            "manual" => Some(TaskKind::Manual),
            _ => None,
        }
    }
}

/// A task may be closed by its assignee, by whoever may act on its lead when it is
/// unassigned, and by supervisors and admins. Analysts only read.
pub fn may_close(actor: Actor, lead: &LeadFacts, assignee: Option<UserId>) -> Result<(), RuleError> {
    if actor.role.is_supervising() && actor.role.may_act() {
        return Ok(());
    }
    match assignee {
        Some(a) if a == actor.id && actor.role.may_act() => Ok(()),
        Some(_) => may_act_on(actor, lead).and(Err(RuleError::NotYourLead)),
        None => may_act_on(actor, lead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, Stage};

    fn actor(id: i64, role: Role) -> Actor {
        Actor { id: UserId(id), role }
    }

    #[test]
    fn who_may_close_a_task() {
        let unowned = LeadFacts { stage: Stage::New, owner: None, vehicles: 0 };
        let mine = LeadFacts { stage: Stage::Contacted, owner: Some(UserId(1)), vehicles: 0 };
        // The assignee.
        assert_eq!(may_close(actor(1, Role::Manager), &mine, Some(UserId(1))), Ok(()));
        // Another manager: not theirs.
        assert_eq!(may_close(actor(2, Role::Manager), &mine, Some(UserId(1))), Err(RuleError::NotYourLead));
        // An unassigned task on an unclaimed lead: any manager.
        assert_eq!(may_close(actor(2, Role::Manager), &unowned, None), Ok(()));
        // An unassigned task on someone else's lead: no.
        assert_eq!(may_close(actor(2, Role::Manager), &mine, None), Err(RuleError::NotYourLead));
        // Supervisors and admins: always.
        for r in [Role::Supervisor, Role::Admin] {
            assert_eq!(may_close(actor(3, r), &mine, Some(UserId(1))), Ok(()), "{r:?}");
        }
        // Analysts read.
        assert_eq!(may_close(actor(4, Role::Analyst), &unowned, None), Err(RuleError::ReadOnly));
        assert_eq!(may_close(actor(4, Role::Analyst), &mine, Some(UserId(4))), Err(RuleError::ReadOnly));
        assert_eq!(TaskKind::parse(TaskKind::Callback.as_str()), Some(TaskKind::Callback));
        assert_eq!(TaskKind::parse("manual"), Some(TaskKind::Manual));
    }
}
