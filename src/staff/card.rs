//! The lead card: its text (templates/staff/card.txt) and its inline keyboard, which shows
//! the main buttons or one of the two menus (stages allowed to the user who opened it,
//! or the reasons a lead is lost).

use crate::channels::telegram::Keyboard;
use crate::context::App;
use crate::domain::callback::CardAction;
use crate::domain::lead::allowed_targets;
use crate::domain::{Actor, Channel, LostReason, UserId};
use crate::store::{AttachedVehicle, CallRow, LeadRow};
use serde::Serialize;

/// Which keyboard the card shows, as stored in `leads.card_menu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Menu {
    Main,
    Stage(UserId),
    Lost,
    /// 👤 Owner ▸: the active managers to give the lead to.
    Owner,
}

impl Menu {
    pub fn encode(self) -> String {
        match self {
            Menu::Main => "main".into(),
            Menu::Stage(u) => format!("stage:{u}"),
            Menu::Lost => "lost".into(),
            Menu::Owner => "owner".into(),
        }
    }

    /// Unknown stored values fall back to the main keyboard.
    pub fn decode(s: &str) -> Menu {
        match s.split_once(':') {
            Some(("stage", u)) => u.parse().map(|u| Menu::Stage(UserId(u))).unwrap_or(Menu::Main),
            _ if s == "lost" => Menu::Lost,
            _ if s == "owner" => Menu::Owner,
            _ => Menu::Main,
        }
    }
}

#[derive(Serialize)]
struct CardView<'a> {
    id: i64,
    customer: &'a str,
    channel: &'static str,
    stage: String,
    lost_reason: Option<String>,
    owner: Option<&'a str>,
    owner_note: Option<&'a str>,
    vehicles: Vec<VehicleView>,
    do_not_contact: bool,
    intent: Option<String>,
    vehicle_interest: Option<String>,
    budget: Option<String>,
    notes: Option<String>,
    automation: bool,
    last_message: Option<&'a str>,
    last_message_at: String,
    last_call: Option<CallView>,
    next_task: Option<TaskView>,
    menu_hint: Option<String>,
    /// `🔥 82 · reason; reason; reason` while AI scores leads.
    hot: Option<String>,
    /// The AI's guess of the intent (a label) and language, for a person to apply.
    suggested_intent: Option<String>,
    suggested_language: Option<String>,
}

/// The card's "next task" line.
#[derive(Serialize)]
struct TaskView {
    title: String,
    due: Option<String>,
    who: Option<String>,
    overdue: bool,
}

/// What a card shows beside the lead's own row.
pub struct Extras {
    pub vehicles: Vec<AttachedVehicle>,
    pub last_call: Option<CallRow>,
    pub next_task: Option<crate::store::TaskRow>,
    /// With the owner menu open: the active managers and their open leads.
    pub managers: Vec<(UserId, String, u32)>,
    /// Why the owner has it, when the silence timer gave it to them.
    pub owner_note: Option<String>,
    /// The AI's hot score, while the feature is on.
    pub hot: Option<crate::domain::ai::HotScore>,
    /// The AI's guess of what a lead without an intent wants, while the feature is on.
    pub suggestion: Option<crate::domain::ai::IntentGuess>,
}

/// What the card of `lead` shows beside its row (the managers only with the owner menu open).
pub async fn extras_of(app: &App, lead: &LeadRow) -> Result<Extras, crate::store::StoreError> {
    let mut e = extras(app, lead.id).await?;
    if Menu::decode(&lead.card_menu) == Menu::Owner {
        e.managers = app.store.managers_open().await?;
    }
    Ok(e)
}

pub async fn extras(app: &App, lead: crate::domain::LeadId) -> Result<Extras, crate::store::StoreError> {
    Ok(Extras {
        vehicles: app.store.lead_vehicles(lead).await?,
        last_call: app.store.last_call_of(lead).await?,
        next_task: app.store.next_task(lead).await?,
        managers: Vec::new(),
        owner_note: app.store.owner_note(lead).await?,
        hot: match &app.ai {
            Some(ai) if ai.on(crate::domain::ai::Feature::HotScores) => app.store.hot_score(lead).await?,
            _ => None,
        },
        suggestion: match &app.ai {
            Some(ai) if ai.on(crate::domain::ai::Feature::Intent) => app.store.suggestion(lead).await?,
            _ => None,
        },
    })
}

/// The card's "last call" line.
#[derive(Serialize)]
struct CallView {
    inbound: bool,
    missed: bool,
    live: bool,
    time: String,
    who: Option<String>,
    talk: Option<String>,
}

fn call_view(app: &App, c: &CallRow) -> CallView {
    let talk = c.billsec.filter(|s| *s > 0).map(|s| format!("{}:{:02}", s / 60, s % 60));
    CallView {
        inbound: c.direction == crate::domain::call::CallDirection::Inbound,
        missed: c.missed,
        live: c.disposition.is_live(),
        time: app.local_time(c.started_at, true),
        who: c.user_name.clone().or_else(|| c.employee_name.clone()),
        talk,
    }
}

pub struct Card {
    pub text: String,
    pub keyboard: Keyboard,
}

fn button(label: String, action: CardAction) -> (String, String) {
    (label, action.encode())
}

/// A customer's typed answer as the card shows it: at most `CARD_FIELD` characters.
fn field(s: &str) -> String {
    crate::domain::text::cap_chars(s, crate::domain::text::CARD_FIELD)
}

/// Render a lead's card. `menu_actor` is the user whose stage menu is open, if any.
pub fn render(app: &App, lead: &LeadRow, menu_actor: Option<(Actor, String)>, extras: &Extras) -> anyhow::Result<Card> {
    let (vehicles, last_call) = (&extras.vehicles, extras.last_call.as_ref());
    let now = app.clock.now_ms();
    let mut menu = Menu::decode(&lead.card_menu);
    if matches!(menu, Menu::Stage(_)) && menu_actor.is_none() {
        menu = Menu::Main;
    }
    let menu_hint = match (menu, &menu_actor) {
        (Menu::Stage(_), Some((_, name))) => {
            Some(app.templates.render("staff/stage_menu_hint.txt", minijinja::context! { user => name })?)
        }
        (Menu::Lost, _) => Some(app.templates.render("staff/lost_menu_hint.txt", minijinja::context! {})?),
        _ => None,
    };
    let view = CardView {
        id: lead.id.0,
        customer: &lead.customer_name,
        channel: Channel::label_of(lead.last_channel),
        stage: app.templates.label("stage", lead.stage.as_str(), lead.stage.label()),
        lost_reason: lead.lost_reason.map(|r| app.templates.label("lost", r.as_str(), r.label())),
        owner: lead.owner_name.as_deref(),
        owner_note: extras.owner_note.as_deref(),
        vehicles: vehicles.iter().map(vehicle_view).collect(),
        do_not_contact: lead.do_not_contact,
        intent: lead.intent.as_deref().map(|i| app.templates.label("intent", i, i)),
        vehicle_interest: lead.vehicle_interest.as_deref().map(field),
        budget: lead.budget.as_deref().map(field),
        notes: lead.notes.as_deref().map(field),
        automation: lead.automation,
        last_message: lead.last_message_preview.as_deref(),
        last_message_at: lead.last_message_at.map(|t| app.local_time(t, true)).unwrap_or_default(),
        last_call: last_call.map(|c| call_view(app, c)),
        next_task: extras.next_task.as_ref().map(|t| TaskView {
            title: crate::domain::text::cap_chars(&t.title, 80),
            due: t.due_at.map(|d| app.local_when(d)),
            who: t.user_name.clone(),
            overdue: t.due_at.is_some_and(|d| d < now),
        }),
        menu_hint,
        hot: extras.hot.as_ref().map(crate::domain::ai::hot_line),
        suggested_intent: extras
            .suggestion
            .as_ref()
            .filter(|_| lead.intent.is_none())
            .map(|g| app.templates.label("intent", &g.intent, &g.intent)),
        suggested_language: extras.suggestion.as_ref().and_then(|g| g.language.clone()),
    };
    let text =
        app.templates.render("staff/card.txt", minijinja::context! { lead => minijinja::value::Serde(&view) })?;
    // Customers' typed answers are capped above; this is the last guard, so a card is
    // always posted rather than refused for being too long.
    let text = crate::domain::text::fit_message(&text);
    let id = lead.id;
    let keyboard = match (menu, menu_actor) {
        (Menu::Stage(_), Some((actor, _))) => {
            let targets = allowed_targets(actor, &lead.facts());
            let mut rows: Keyboard = targets
                .chunks(2)
                .map(|pair| {
                    pair.iter()
                        .map(|s| {
                            button(app.templates.label("stage", s.as_str(), s.label()), CardAction::SetStage(id, *s))
                        })
                        .collect()
                })
                .collect();
            rows.push(vec![button(app.templates.label("button", "back", "◂ Back"), CardAction::Back(id))]);
            rows
        }
        (Menu::Owner, _) => {
            let mut rows: Keyboard = extras
                .managers
                .iter()
                .filter(|(u, _, _)| Some(*u) != lead.owner)
                .map(|(u, name, open)| vec![button(format!("{name} ({open})"), CardAction::SetOwner(id, *u))])
                .collect();
            rows.push(vec![button(app.templates.label("button", "back", "◂ Back"), CardAction::Back(id))]);
            rows
        }
        (Menu::Lost, _) => {
            let mut rows: Keyboard = LostReason::ALL
                .chunks(2)
                .map(|pair| {
                    pair.iter()
                        .map(|r| button(app.templates.label("lost", r.as_str(), r.label()), CardAction::Lost(id, *r)))
                        .collect()
                })
                .collect();
            rows.push(vec![button(app.templates.label("button", "back", "◂ Back"), CardAction::Back(id))]);
            rows
        }
        _ => {
            let mut rows: Keyboard = Vec::new();
            if lead.owner.is_none() && lead.stage.is_open() {
                rows.push(vec![button(app.templates.label("button", "claim", "✋ Claim"), CardAction::Claim(id))]);
            }
            let mut second =
                vec![button(app.templates.label("button", "stage_menu", "Stage ▸"), CardAction::StageMenu(id))];
            if lead.stage.is_open() {
                second.push(button(app.templates.label("button", "lost_menu", "Lost ▸"), CardAction::LostMenu(id)));
            }
            if lead.stage.is_open() {
                // Opens the bot's inline mode pre-filled with the lead (`staff::inline`).
                second.push((
                    app.templates.label("button", "vehicle_menu", "🚘 Vehicle ▸"),
                    crate::channels::telegram::inline_query_button(&crate::domain::callback::inline::query_for(id)),
                ));
            }
            rows.push(second);
            if lead.stage.is_open() {
                // Supervisors' and admins' (a manager's press is refused).
                rows.push(vec![button(
                    app.templates.label("button", "owner_menu", "👤 Owner ▸"),
                    CardAction::OwnerMenu(id),
                )]);
            }
            // AI's buttons: a person applies a suggested intent, or asks for a reply draft.
            let mut ai_row = Vec::new();
            if let Some(code) = extras
                .suggestion
                .as_ref()
                .filter(|_| lead.intent.is_none())
                .and_then(|g| crate::domain::ai::intent_code(&g.intent))
            {
                ai_row.push(button(
                    app.templates.label("button", "set_intent", "✅ Set intent"),
                    CardAction::SetIntent(id, code),
                ));
            }
            let drafts = app.ai.as_ref().is_some_and(|a| a.on(crate::domain::ai::Feature::Drafts));
            if drafts && lead.stage.is_open() && !lead.do_not_contact && lead.last_channel.is_some() {
                ai_row.push(button(app.templates.label("button", "draft", "✍️ Draft"), CardAction::Draft(id)));
            }
            if !ai_row.is_empty() {
                rows.push(ai_row);
            }
            if lead.stage.is_open() && !lead.do_not_contact && app.flows.enabled() {
                let (label, on) = if lead.automation { ("bot_off", false) } else { ("bot_on", true) };
                let fallback = if on { "🤖 Turn the bot on" } else { "🤖 Turn the bot off" };
                rows.push(vec![button(app.templates.label("button", label, fallback), CardAction::Automation(id, on))]);
            }
            if lead.stage.is_open() {
                for a in vehicles {
                    let label = format!(
                        "{} {} {}",
                        app.templates.label("button", "detach", "✖ Detach"),
                        a.vehicle.make,
                        a.vehicle.model
                    );
                    let mut row = Vec::new();
                    if a.photos > 0 {
                        let send = format!(
                            "{} ({})",
                            app.templates.label("button", "send_photos", "📷 Send photos"),
                            a.photos.min(crate::domain::photos::MAX_PER_SEND as i64)
                        );
                        row.push(button(send, CardAction::SendPhotos(id, a.vehicle.id)));
                    }
                    row.push(button(label, CardAction::Detach(id, a.vehicle.id)));
                    rows.push(row);
                }
            }
            rows
        }
    };
    Ok(Card { text, keyboard })
}

/// How a vehicle is shown on cards and in search results.
#[derive(serde::Serialize)]
pub struct VehicleView {
    pub name: String,
    pub year: Option<i64>,
    pub vin_tail: Option<String>,
    pub price: Option<String>,
    pub status: &'static str,
    /// Other open leads that hold it, as "#3, #5".
    pub others: String,
    pub photos: i64,
}

pub fn vehicle_view(a: &AttachedVehicle) -> VehicleView {
    let v = &a.vehicle;
    VehicleView {
        name: format!("{} {}", v.make, v.model),
        year: v.year,
        vin_tail: v.vin.as_deref().map(|x| x[x.len().saturating_sub(6)..].to_string()),
        price: v.price_minor.map(|p| crate::domain::vehicle::format_price(p, v.currency.as_deref())),
        status: v.status.as_str(),
        others: a.other_leads.iter().map(|l| format!("#{l}")).collect::<Vec<_>>().join(", "),
        photos: a.photos,
    }
}

/// The topic's name: number, customer, channel (at most 128 characters).
pub fn topic_name(app: &App, lead: &LeadRow) -> anyhow::Result<String> {
    // The template is rendered around a marker, so the customer's name can be cut to make
    // the title fit while what the template puts around it (the channel) stays whole.
    const MARK: &str = "\u{1}";
    let view =
        minijinja::context! { id => lead.id.0, customer => MARK, channel => Channel::label_of(lead.last_channel) };
    let name = app.templates.render("staff/topic_name.txt", minijinja::context! { lead => view })?;
    let (prefix, suffix) = name.split_once(MARK).unwrap_or((name.as_str(), ""));
    Ok(crate::domain::text::topic_title(prefix, &lead.customer_name, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menus_round_trip_and_unknown_values_fall_back() {
        for m in [Menu::Main, Menu::Lost, Menu::Stage(UserId(12))] {
            assert_eq!(Menu::decode(&m.encode()), m);
        }
        assert_eq!(Menu::decode("stage:x"), Menu::Main);
        assert_eq!(Menu::decode("something-new"), Menu::Main);
    }
}
