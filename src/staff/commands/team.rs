//! `/team` (supervisors, admins, analysts): each active manager — on shift or not (and
//! why), open leads, overdue tasks, and the median first response today in business time.

use super::Ctx;
use crate::store::{self, StoreError};
use serde_json::json;

pub async fn team(c: &mut Ctx<'_>) -> Result<Option<String>, StoreError> {
    if !c.user.role.sees_all_tasks() {
        return Ok(Some(c.render("staff/team.txt", minijinja::context! { not_allowed => true })));
    }
    let managers = store::managers(c.tx).await?;
    let cands = crate::staff::assign::candidates(c.app, &managers, c.now);
    let midnight = c.app.instant(c.app.local(c.now).date().and_hms_opt(0, 0, 0).expect("midnight exists"));
    let (overdue, firsts) = store::team_figures(c.tx, c.now, midnight).await?;
    let rows: Vec<_> = managers
        .iter()
        .map(|m| {
            let on = cands.iter().find(|x| x.user == m.id).map(|x| x.on_shift);
            let mut f = firsts.get(&m.id).cloned().unwrap_or_default();
            f.sort_unstable();
            let median = (!f.is_empty()).then(|| crate::domain::text::duration_short(f[f.len() / 2]));
            json!({
                "name": m.name,
                "state": match on { None => "leave", Some(true) => "on", Some(false) => "off" },
                "open": m.open,
                "cap": m.max_open,
                "overdue": overdue.get(&m.id).copied().unwrap_or(0),
                "median": median,
                "answered": f.len(),
            })
        })
        .collect();
    let ctx =
        minijinja::context! { rows => minijinja::value::Serde(&rows), mode => c.app.config.assignment.mode.as_str() };
    Ok(Some(c.render("staff/team.txt", ctx)))
}
