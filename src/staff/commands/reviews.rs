//! `/reviews` (supervisors and admins): calls waiting for review — answered, recorded,
//! longer than 30 seconds, not reviewed yet, oldest first — and a weekly random sample per
//! manager (`reviews.sample_per_week`), each with a 📝 button. `/myscore`: a manager's
//! reviews of the last 30 days.

use super::Ctx;
use crate::domain::callback::ReviewAction;
use crate::store::{self, ReviewCandidate, StoreError};
use serde_json::json;
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;
/// Calls shorter than this are not worth a review.
pub const MIN_TALK_S: i64 = 30;
/// The most calls listed with buttons.
const LISTED: usize = 10;

/// The week's sample: per manager, `n` calls picked by a hash of the call and the week, so
/// the pick is random-looking, stable within the week, and fresh the next.
fn sample(calls: &[ReviewCandidate], n: usize, week: i64) -> Vec<&ReviewCandidate> {
    let mut by_manager: BTreeMap<i64, Vec<&ReviewCandidate>> = BTreeMap::new();
    for c in calls {
        by_manager.entry(c.user.map_or(0, |u| u.0)).or_default().push(c);
    }
    let key = |c: &ReviewCandidate| {
        // SplitMix64 of (call, week): cheap, well spread.
        let mut z = (c.call.0 as u64) ^ (week as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut out = Vec::new();
    for (_, mut list) in by_manager {
        list.sort_by_key(|c| key(c));
        out.extend(list.into_iter().take(n));
    }
    out
}

pub async fn waiting(c: &mut Ctx<'_>) -> Result<Option<String>, StoreError> {
    let app = c.app;
    if !c.user.role.may_review() {
        return Ok(Some(c.render("staff/review.txt", minijinja::context! { what => "not_allowed" })));
    }
    let oldest = app.store.calls_to_review(c.now - 30 * DAY_MS, MIN_TALK_S, LISTED as i64).await?;
    let week = app.store.calls_to_review(c.now - 7 * DAY_MS, MIN_TALK_S, 5_000).await?;
    let picked = sample(&week, app.config.calls.review_sample_per_week as usize, c.now / (7 * DAY_MS));
    let view = |list: &[&ReviewCandidate]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|x| {
                json!({
                    "lead": x.lead.0, "customer": x.customer, "who": x.user_name,
                    "time": app.local_time(x.started_at, true),
                    "talk": format!("{}:{:02}", x.billsec / 60, x.billsec % 60),
                    "ai_score": x.ai_score, "needs_person": x.needs_person,
                })
            })
            .collect()
    };
    let oldest_refs: Vec<&ReviewCandidate> = oldest.iter().collect();
    let text = c.render(
        "staff/reviews.txt",
        minijinja::context! {
            oldest => minijinja::value::Serde(view(&oldest_refs)),
            sample => minijinja::value::Serde(view(&picked)),
            per_week => app.config.calls.review_sample_per_week,
        },
    );
    let mut seen = std::collections::HashSet::new();
    let keyboard: Vec<Vec<(String, String)>> = oldest_refs
        .iter()
        .chain(picked.iter())
        .filter(|x| seen.insert(x.call))
        .take(LISTED)
        .map(|x| {
            let label = format!("📝 #{} {} {}", x.lead.0, x.customer, app.local_time(x.started_at, true));
            vec![(crate::domain::text::cap_chars(&label, 60), ReviewAction::Start(x.call).encode())]
        })
        .collect();
    let job = crate::notices::staff_reply_job(c.m.chat, c.m.thread, text.trim(), Some(&keyboard), c.now);
    store::jobs_enqueue(c.tx, &job, c.now).await?;
    Ok(None)
}

pub async fn my_score(c: &mut Ctx<'_>) -> Result<Option<String>, StoreError> {
    let app = c.app;
    let reviews = app.store.reviews_of_user(c.user.id, c.now - 30 * DAY_MS).await?;
    let scores: Vec<i64> = reviews.iter().filter_map(|(r, _)| r.score).collect();
    let average =
        (!scores.is_empty()).then(|| (scores.iter().sum::<i64>() as f64 / scores.len() as f64).round() as i64);
    let list: Vec<_> = reviews
        .iter()
        .take(20)
        .map(|(r, started)| {
            json!({
                "time": app.local_time(*started, true), "score": r.score, "by": r.reviewer_name,
                "critical": !r.critical_missed.is_empty(), "comment": r.comment,
            })
        })
        .collect();
    Ok(Some(c.render(
        "staff/myscore.txt",
        minijinja::context! { reviews => minijinja::value::Serde(&list), count => reviews.len(), average },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallId, LeadId, UserId};

    fn call(id: i64, user: i64) -> ReviewCandidate {
        ReviewCandidate {
            call: CallId(id),
            lead: LeadId(id),
            customer: String::new(),
            user: Some(UserId(user)),
            user_name: None,
            started_at: 0,
            billsec: 60,
            ai_score: None,
            needs_person: false,
        }
    }

    #[test]
    fn the_sample_takes_n_per_manager_stable_within_a_week() {
        let calls: Vec<_> = (1..=40).map(|i| call(i, i % 3)).collect();
        let a = sample(&calls, 5, 100);
        assert_eq!(a.len(), 15, "five from each of three managers");
        for m in 0..3 {
            assert_eq!(a.iter().filter(|c| c.user == Some(UserId(m))).count(), 5);
        }
        let again: Vec<_> = sample(&calls, 5, 100).iter().map(|c| c.call).collect();
        assert_eq!(a.iter().map(|c| c.call).collect::<Vec<_>>(), again, "stable within the week");
        let next: Vec<_> = sample(&calls, 5, 101).iter().map(|c| c.call).collect();
        assert_ne!(again, next, "another week, another pick");
        assert_eq!(sample(&calls[..2], 5, 1).len(), 2, "fewer calls than asked: all of them");
    }
}
