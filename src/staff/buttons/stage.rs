//! Claim, stage moves, lost (with a reason), and the stage and lost menus: the rules are
//! `domain::lead`'s, what a move causes is `staff::changes`.

use super::{refused, Answer, Press};
use crate::domain::callback::CardAction;
use crate::domain::{lead, Actor, Stage};
use crate::staff::actions::render;
use crate::staff::card::Menu;
use crate::store::StoreError;
use tracing::info;

pub async fn press(p: &mut Press<'_>, action: CardAction) -> Result<Answer, StoreError> {
    let (app, user) = (p.app, p.user);
    let actor = Actor { id: user.id, role: user.role };
    let facts = p.lead.facts();
    let result = match action {
        CardAction::Claim(_) => lead::claim(actor, &facts).map(|c| (c, Menu::Main, "claim")),
        CardAction::SetStage(_, stage) => {
            lead::move_stage(actor, &facts, stage, None).map(|c| (c, Menu::Main, "stage"))
        }
        CardAction::Lost(_, reason) => {
            lead::move_stage(actor, &facts, Stage::Lost, Some(reason)).map(|c| (c, Menu::Main, "lost"))
        }
        CardAction::StageMenu(_) => lead::stage_menu(actor, &facts).map(|_| (vec![], Menu::Stage(user.id), "menu")),
        CardAction::LostMenu(_) => lead::lost_menu(actor, &facts).map(|_| (vec![], Menu::Lost, "menu")),
        _ => Ok((vec![], Menu::Main, "menu")),
    };
    let (changes, menu, what) = match result {
        Ok(x) => x,
        Err(e) => return Ok(refused(app, e)),
    };
    crate::changes::apply(app, p.tx, p.lead.id, user.id, &changes, Some(&menu.encode()), p.now).await?;
    info!(lead = p.lead.id.0, user = user.id.0, action = what, "card button");
    if what == "menu" {
        return Ok((String::new(), false));
    }
    let after = lead::apply(&facts, &changes);
    let reason = p.lead.lost_reason.or(match action {
        CardAction::Lost(_, r) => Some(r),
        _ => None,
    });
    let text = render(
        app,
        "staff/done.txt",
        minijinja::context! { action => what,
        stage => app.templates.label("stage", after.stage.as_str(), after.stage.label()),
        reason => reason.map(|r| app.templates.label("lost", r.as_str(), r.label())) },
    );
    Ok((text, false))
}
