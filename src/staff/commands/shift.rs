//! `/shift on`, `/shift off` (for the rest of the day) and `/shift` (where one stands), in
//! the staff group or a private chat with the staff bot. Going on shift places the leads
//! waiting for somebody eligible (`staff::assign`).

use super::Ctx;
use crate::store::StoreError;
use tracing::info;

pub async fn shift(c: &mut Ctx<'_>, args: &str) -> Result<Option<String>, StoreError> {
    let say =
        |c: &Ctx<'_>, what: &str| c.render("staff/shift.txt", minijinja::context! { what, who => c.user.first_name() });
    let on = match args.trim().to_lowercase().as_str() {
        "on" | "start" | "почати" => true,
        "off" | "stop" | "end" | "завершити" => false,
        "" => {
            let managers = crate::store::managers(c.tx).await?;
            let Some(m) = managers.iter().find(|m| m.id == c.user.id) else {
                return Ok(Some(say(c, "not_manager")));
            };
            let cand = crate::staff::assign::candidates(c.app, std::slice::from_ref(m), c.now);
            let what = match cand.first() {
                None => "leave",
                Some(x) if x.on_shift => "is_on",
                Some(_) => "is_off",
            };
            return Ok(Some(say(c, what)));
        }
        _ => return Ok(Some(say(c, "usage"))),
    };
    let today = c.app.local(c.now).date().to_string();
    crate::store::set_shift(c.tx, c.user.id, on, &today, c.now).await?;
    info!(user = c.user.id.0, on, "shift");
    if on {
        crate::store::jobs_enqueue(c.tx, &crate::staff::assign::timers_job(c.now), c.now).await?;
    }
    Ok(Some(say(c, if on { "on" } else { "off" })))
}
