//! Storing a batch of inbound customer messages (one `getUpdates` worth) in a handful of
//! statements instead of several per message: the difference between ~2,000 and many
//! thousands of messages a second. Same rules as one-by-one ingest: dedupe on the update
//! id and on (channel, external message id), find or create the customer, attach to the
//! open lead or open one, mark the card's preview stale, enqueue one topic sync per lead.

use super::leads::{create_lead, find_or_create_customer};
use super::{col, params, Conn, Result};
use crate::domain::message::{preview, Inbound};
use crate::domain::{Channel, CustomerId, Direction, LeadId, MessageRowId};
use std::collections::{HashMap, HashSet};

/// One inbound message to store, with the id of the update that brought it (when the
/// channel has update ids: then a repeated update is skipped before anything else).
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    pub update_id: Option<i64>,
    pub inbound: &'a Inbound,
}

/// One stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessage {
    pub customer: CustomerId,
    pub lead: LeadId,
    pub message: MessageRowId,
    /// The lead was opened by this batch.
    pub new_lead: bool,
    pub kind: crate::domain::MessageKind,
}

/// What was stored, in input order; duplicates are left out.
pub type Stored = Vec<StoredMessage>;

/// Store the batch inside the caller's transaction. `grace_ms` delays the topic sync of a
/// lead whose newest message is part of an album; `holds` (lead id → unix ms) are topic
/// syncs waiting for Telegram's budget, which a new message does not wake early.
pub async fn store_inbound_batch(
    conn: &mut Conn,
    source: &str,
    items: &[BatchItem<'_>],
    now: i64,
    grace_ms: i64,
    holds: Option<&dashmap::DashMap<i64, i64>>,
) -> Result<Stored> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    // 1. Updates seen before are skipped.
    let ids: Vec<i64> = items.iter().filter_map(|i| i.update_id).collect();
    let mut fresh: HashSet<i64> = HashSet::new();
    if !ids.is_empty() {
        let sql = format!(
            "INSERT INTO seen_updates (source, update_id, at) VALUES {} ON CONFLICT DO NOTHING RETURNING update_id",
            (0..ids.len()).map(|i| format!("($1, ${}, $2)", i + 3)).collect::<Vec<_>>().join(", ")
        );
        let mut q = sqlx::query(&sql).bind(source).bind(now);
        for id in &ids {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            fresh.insert(col::<i64>(&r, "update_id")?);
        }
    }
    let items: Vec<&Inbound> =
        items.iter().filter(|i| i.update_id.is_none_or(|id| fresh.contains(&id))).map(|i| i.inbound).collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }

    // 2. Customers by identity, per channel: one query for the known, one insert each for the new.
    let mut customer_of: HashMap<(Channel, String), CustomerId> = HashMap::new();
    let mut by_channel: HashMap<Channel, Vec<&Inbound>> = HashMap::new();
    for it in &items {
        by_channel.entry(it.channel).or_default().push(it);
    }
    for (channel, its) in &by_channel {
        let users: Vec<&str> =
            its.iter().map(|i| i.external_user.as_str()).collect::<HashSet<_>>().into_iter().collect();
        // Known identities: found and brought up to date in one statement — unblocked (they
        // wrote), newest inbound time (the batch's latest, within a second or two).
        let latest = its.iter().map(|i| i.sent_at).max().unwrap_or(now);
        let sql = format!(
            "UPDATE customer_identities SET blocked = 0,
                 last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at < $1 THEN $1 ELSE last_inbound_at END
             WHERE channel = $2 AND external_id IN ({}) RETURNING customer_id, external_id",
            params(2, users.len())
        );
        let mut q = sqlx::query(&sql).bind(latest).bind(channel.as_str());
        for u in &users {
            q = q.bind(*u);
        }
        for r in q.fetch_all(&mut *conn).await? {
            customer_of.insert((*channel, col(&r, "external_id")?), CustomerId(col(&r, "customer_id")?));
        }
        for it in its {
            if let std::collections::hash_map::Entry::Vacant(e) =
                customer_of.entry((*channel, it.external_user.clone()))
            {
                let c = find_or_create_customer(
                    conn,
                    *channel,
                    &it.external_user,
                    &it.sender_name,
                    it.language.as_deref(),
                    it.sent_at,
                    now,
                )
                .await?;
                e.insert(c);
            }
        }
    }

    // 3. Open leads: one query, and a new lead for customers without one.
    let customers: Vec<CustomerId> = customer_of.values().copied().collect::<HashSet<_>>().into_iter().collect();
    let sql = format!(
        "SELECT id, customer_id FROM leads WHERE is_open = 1 AND customer_id IN ({}) ORDER BY id",
        params(0, customers.len())
    );
    let mut q = sqlx::query(&sql);
    for c in &customers {
        q = q.bind(c.0);
    }
    let mut lead_of: HashMap<CustomerId, LeadId> = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        lead_of.insert(CustomerId(col(&r, "customer_id")?), LeadId(col(&r, "id")?));
    }
    let mut opened: HashSet<LeadId> = HashSet::new();
    for it in &items {
        let c = customer_of[&(it.channel, it.external_user.clone())];
        if let std::collections::hash_map::Entry::Vacant(e) = lead_of.entry(c) {
            let lead = create_lead(conn, c, it.channel, now).await?;
            opened.insert(lead);
            e.insert(lead);
        }
    }

    // 4. The messages, in one insert; duplicates (channel, external id) are skipped.
    const COLS: usize = 12;
    let sql = format!(
        "INSERT INTO messages (lead_id, customer_id, channel, direction, kind, body, telegram_file_id, media_group_id,
             extra, external_id, sent_at, created_at, staff_state)
         VALUES {} ON CONFLICT DO NOTHING RETURNING id, channel, external_id",
        (0..items.len()).map(|i| format!("({}, 'pending')", params(i * COLS, COLS))).collect::<Vec<_>>().join(", ")
    );
    let mut q = sqlx::query(&sql);
    for it in &items {
        let c = customer_of[&(it.channel, it.external_user.clone())];
        q = q
            .bind(lead_of[&c].0)
            .bind(c.0)
            .bind(it.channel.as_str())
            .bind(Direction::Incoming.as_str())
            .bind(it.kind.as_str())
            .bind(it.text.clone())
            .bind(it.file_id.clone())
            .bind(it.media_group_id.clone())
            .bind(it.extra.as_ref().map(|v| v.to_string()))
            .bind(it.external_message.clone())
            .bind(it.sent_at)
            .bind(now);
    }
    let mut inserted: HashMap<(String, String), MessageRowId> = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        inserted.insert((col(&r, "channel")?, col(&r, "external_id")?), MessageRowId(col(&r, "id")?));
    }
    let mut stored = Vec::new();
    // Per lead: the newest message (for the card) and when its sync should run.
    let mut newest: HashMap<LeadId, &Inbound> = HashMap::new();
    for it in &items {
        // `remove`: a message repeated inside the batch was inserted once and counts once.
        let Some(id) = inserted.remove(&(it.channel.as_str().to_string(), it.external_message.clone())) else {
            continue;
        };
        let c = customer_of[&(it.channel, it.external_user.clone())];
        let lead = lead_of[&c];
        stored.push(StoredMessage { customer: c, lead, message: id, new_lead: opened.contains(&lead), kind: it.kind });
        let e = newest.entry(lead).or_insert(it);
        if it.sent_at >= e.sent_at {
            *e = it;
        }
    }
    if newest.is_empty() {
        return Ok(stored);
    }

    // 5. Leads touched, in one update.
    let leads: Vec<(LeadId, &Inbound)> = newest.into_iter().collect();
    let mut case_channel = String::new();
    let mut case_preview = String::new();
    let mut case_at = String::new();
    for (k, _) in leads.iter().enumerate() {
        let (id, ch, pv, at) = (k * 4 + 2, k * 4 + 3, k * 4 + 4, k * 4 + 5);
        case_channel.push_str(&format!(" WHEN ${id} THEN ${ch}"));
        case_preview.push_str(&format!(" WHEN ${id} THEN ${pv}"));
        case_at.push_str(&format!(
            " WHEN ${id} THEN CASE WHEN last_message_at IS NULL OR last_message_at < ${at} THEN ${at} ELSE last_message_at END"
        ));
    }
    let ids: Vec<String> = (0..leads.len()).map(|k| format!("${}", k * 4 + 2)).collect();
    let sql = format!(
        "UPDATE leads SET last_channel = CASE id{case_channel} END, last_message_preview = CASE id{case_preview} END,
             last_message_at = CASE id{case_at} END, preview_version = preview_version + 1, updated_at = $1,
             waiting_since = COALESCE(waiting_since, $1)
         WHERE id IN ({})",
        ids.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now);
    for (lead, it) in &leads {
        q = q.bind(lead.0).bind(it.channel.as_str()).bind(preview(it.kind, it.text.as_deref())).bind(it.sent_at);
    }
    q.execute(&mut *conn).await?;

    // 6. One topic sync per lead (deduplicated): a pending one is brought forward if this
    //    batch needs it sooner.
    let syncs: Vec<(LeadId, i64)> = leads
        .iter()
        .map(|(lead, it)| {
            let mut run_at = if it.media_group_id.is_some() { now + grace_ms } else { now };
            if let Some(held) = holds.and_then(|h| h.get(&lead.0).map(|t| *t)) {
                run_at = run_at.max(held);
            }
            (*lead, run_at)
        })
        .collect();
    super::jobs::enqueue_topic_syncs(conn, &syncs, now).await?;
    Ok(stored)
}
