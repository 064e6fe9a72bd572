//! Tasks: work for a person with a due time — a callback after a missed call (issue 12), a
//! task a manager writes down (`/task`, issue 13), or a follow-up for a lead sitting too
//! long in its stage. Who may write and close one, and whose it is.

use super::lead::{may_act_on, Actor, LeadFacts, RuleError};
use super::UserId;

/// What kind of work a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Callback,
    Manual,
    FollowUp,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Callback => "callback",
            TaskKind::Manual => "manual",
            TaskKind::FollowUp => "follow_up",
        }
    }
    pub fn parse(s: &str) -> Option<TaskKind> {
        match s {
            "callback" => Some(TaskKind::Callback),
            "manual" => Some(TaskKind::Manual),
            "follow_up" => Some(TaskKind::FollowUp),
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

/// `/task` in a lead's topic: whoever may act on the open lead may write one. It goes to
/// the person named (`/task @sofia …`, who must be able to act: not an analyst), else the
/// lead's owner, else the writer.
pub fn may_create(actor: Actor, lead: &LeadFacts, named: Option<(UserId, super::Role)>) -> Result<UserId, RuleError> {
    may_act_on(actor, lead)?;
    if !lead.stage.is_open() {
        return Err(RuleError::Closed);
    }
    match named {
        Some((_, role)) if !role.may_act() => Err(RuleError::ReadOnly),
        Some((user, _)) => Ok(user),
        None => Ok(lead.owner.unwrap_or(actor.id)),
    }
}

/// Who `@name` means among the staff's names: a name, or a word of it, starting with what
/// was typed (any case; `@sofia`, `@Sofia_K`, `@koval`). `Err` lists the ones it could be
/// (empty: nobody).
pub fn pick_person(typed: &str, names: &[&str]) -> Result<usize, Vec<usize>> {
    let typed = typed.trim_start_matches('@').replace('_', " ").to_lowercase();
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Vec::new());
    }
    let fits = |name: &str| {
        let name = name.to_lowercase();
        name.starts_with(typed) || name.split_whitespace().any(|w| w.starts_with(typed))
    };
    let exact: Vec<usize> = (0..names.len()).filter(|&i| names[i].to_lowercase() == typed).collect();
    let found: Vec<usize> =
        if exact.len() == 1 { exact } else { (0..names.len()).filter(|&i| fits(names[i])).collect() };
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(found),
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
    fn who_may_write_a_task_and_whose_it_is() {
        let unowned = LeadFacts { stage: Stage::New, owner: None, vehicles: 0 };
        let maxs = LeadFacts { stage: Stage::Contacted, owner: Some(UserId(1)), vehicles: 0 };
        let sold = LeadFacts { stage: Stage::Sold, owner: Some(UserId(1)), vehicles: 0 };
        let max = actor(1, Role::Manager);
        assert_eq!(may_create(max, &maxs, None), Ok(UserId(1)));
        assert_eq!(may_create(max, &unowned, None), Ok(UserId(1)), "the writer when nobody owns it");
        assert_eq!(may_create(max, &maxs, Some((UserId(2), Role::Manager))), Ok(UserId(2)), "a named colleague");
        assert_eq!(may_create(actor(2, Role::Manager), &maxs, None), Err(RuleError::NotYourLead));
        assert_eq!(may_create(actor(3, Role::Supervisor), &maxs, None), Ok(UserId(1)), "the owner's");
        assert_eq!(may_create(actor(4, Role::Analyst), &unowned, None), Err(RuleError::ReadOnly));
        assert_eq!(may_create(max, &maxs, Some((UserId(4), Role::Analyst))), Err(RuleError::ReadOnly));
        assert_eq!(may_create(max, &sold, None), Err(RuleError::Closed));
        for k in [TaskKind::Callback, TaskKind::Manual, TaskKind::FollowUp] {
            assert_eq!(TaskKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn a_person_is_named_by_the_start_of_a_name() {
        let names = ["Max Petrenko", "Sofia Koval", "Maksym Bondar", "Sofia"];
        assert_eq!(pick_person("@max", &names), Ok(0));
        assert_eq!(pick_person("@koval", &names), Ok(1));
        assert_eq!(pick_person("@Sofia_K", &names), Ok(1));
        assert_eq!(pick_person("@sofia", &names), Ok(3), "the exact name wins");
        assert_eq!(pick_person("@ma", &names), Err(vec![0, 2]));
        assert_eq!(pick_person("@olena", &names), Err(vec![]));
        assert_eq!(pick_person("@", &names), Err(vec![]));
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
