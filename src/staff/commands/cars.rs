//! `/vehicle VIN` (a car's card, its photos above it) and `/car words` (cars to attach to
//! the topic's lead, with Attach buttons).

use super::Ctx;
use crate::channels::telegram::Keyboard;
use crate::domain::callback::CardAction;
use crate::store::{self, StoreError};

pub async fn vehicle_card(c: &mut Ctx<'_>, args: &str) -> Result<String, StoreError> {
    let app = c.app;
    // By VIN or its tail: the newest match.
    let found = match crate::domain::vehicle::parse_query(args).vin_tail {
        Some(_) => app.vehicle_search.search(&app.store, args, c.now, 1).await?,
        None => Vec::new(),
    };
    let v = found.into_iter().next();
    let holders = match &v {
        Some(v) => app.store.vehicle_holders(v.id).await?,
        None => Vec::new(),
    };
    let price =
        v.as_ref().and_then(|v| v.price_minor.map(|p| crate::domain::vehicle::format_price(p, v.currency.as_deref())));
    // The car's photos go first, as an album above its card.
    let photos = match &v {
        Some(v) => store::vehicle_photos_in_tx(c.tx, v.id).await?,
        None => Vec::new(),
    };
    if !photos.is_empty() {
        let ids: Vec<_> = photos.iter().take(crate::domain::photos::MAX_PER_SEND).map(|p| p.id).collect();
        let job = crate::staff::photos::post_job(c.m.chat, c.m.thread, &ids, c.now);
        store::jobs_enqueue(c.tx, &job, c.now).await?;
    }
    Ok(c.render(
        "staff/vehicle_card.txt",
        minijinja::context! { v => minijinja::value::Serde(&v), holders => minijinja::value::Serde(&holders),
        price, query => args, photos => photos.len() },
    ))
}

pub async fn find(c: &mut Ctx<'_>, args: &str) -> Result<Option<String>, StoreError> {
    let (Some(l), false) = (c.lead, args.is_empty()) else {
        return Ok(Some(c.render("staff/car_results.txt", minijinja::context! {})));
    };
    let app = c.app;
    let found = app.vehicle_search.search(&app.store, args, c.now, 8).await?;
    let mut cars = Vec::new();
    let mut keyboard: Keyboard = Vec::new();
    for (i, v) in found.into_iter().enumerate() {
        let others = store::other_open_leads_holding(c.tx, v.id, l).await?;
        let label = format!("{} {}. {} {}", app.templates.label("button", "attach", "📎"), i + 1, v.make, v.model);
        keyboard.push(vec![(label, CardAction::Attach(l, v.id).encode())]);
        cars.push(crate::staff::card::vehicle_view(&store::AttachedVehicle {
            vehicle: v,
            other_leads: others,
            photos: 0,
        }));
    }
    let text = c
        .render("staff/car_results.txt", minijinja::context! { query => args, cars => minijinja::value::Serde(&cars) });
    let kb = (!keyboard.is_empty()).then_some(keyboard);
    let job = crate::notices::staff_reply_job(c.m.chat, c.m.thread, &text, kb.as_ref(), c.now);
    store::jobs_enqueue(c.tx, &job, c.now).await?;
    Ok(None)
}
