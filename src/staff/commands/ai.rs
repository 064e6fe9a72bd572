//! `/ai` (supervisors and admins; only when AI is configured — without it the command is
//! unknown, like everything else about AI): what AI is doing. The servers and models, the
//! features on, today's requests against the daily budget, the last 24 hours' attempts by
//! feature and outcome, and the latest attempt that gave no answer, with its reason.

use super::Ctx;
use crate::store::StoreError;
use serde_json::json;
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;

/// A base URL as staff may see it: without a user name or password in it.
fn shown(base: &str) -> String {
    match reqwest::Url::parse(base) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => base.to_string(),
    }
}

pub async fn status(c: &mut Ctx<'_>) -> Result<Option<String>, StoreError> {
    let app = c.app;
    let Some(ai) = app.ai.as_ref() else {
        return Ok(Some(c.render("staff/unknown_command.txt", minijinja::context! { command => "/ai" })));
    };
    if !c.user.role.may_review() {
        return Ok(Some(c.render("staff/ai_status.txt", minijinja::context! { not_allowed => true })));
    }
    let cfg = ai.config();
    let features = ai.features();
    let (on, off): (Vec<_>, Vec<_>) =
        crate::domain::ai::Feature::ALL.into_iter().map(|f| (f.as_str(), features.has(f))).partition(|(_, on)| *on);
    let used = app.store.ai_requests_on(&ai.day(c.now)).await?;
    let mut by_feature: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (feature, outcome, n) in app.store.ai_attempts_since(c.now - DAY_MS).await? {
        by_feature.entry(feature).or_default().insert(outcome, n);
    }
    let last = app.store.ai_last_failure(c.now - DAY_MS).await?.map(|f| {
        json!({
            "time": app.local_time(f.at, true), "feature": f.feature, "lead": f.lead.map(|l| l.0),
            "outcome": f.outcome, "error": f.error.map(|e| crate::domain::ai::one_line(&e, 300)),
        })
    });
    let audio = (cfg.audio_base_url != cfg.base_url).then(|| shown(&cfg.audio_base_url));
    Ok(Some(c.render(
        "staff/ai_status.txt",
        minijinja::context! {
            base => shown(&cfg.base_url), audio => audio,
            chat_model => cfg.chat_model.clone(), transcribe_model => cfg.transcribe_model.clone(),
            on => on.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            off => off.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            used => used, budget => cfg.daily_requests,
            features => by_feature, last => minijinja::value::Serde(&last),
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_is_shown_without_credentials() {
        assert_eq!(shown("https://user:secret@api.example.com/v1"), "https://api.example.com/v1");
        assert_eq!(shown("http://10.0.0.5:8000/v1/"), "http://10.0.0.5:8000/v1");
        assert_eq!(shown("not a url"), "not a url");
    }
}
