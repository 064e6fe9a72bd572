//! Every word a customer or a manager reads comes from templates/ (minijinja), compiled
//! into the binary so a fresh machine needs no extra files. Rust code passes data, never
//! sentences.

use minijinja::Environment;
use serde::Serialize;

/// The built-in templates, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("staff/card.txt", include_str!("../templates/staff/card.txt")),
    ("staff/contact_shared.txt", include_str!("../templates/staff/contact_shared.txt")),
    ("staff/delivery_failed.txt", include_str!("../templates/staff/delivery_failed.txt")),
    ("staff/done.txt", include_str!("../templates/staff/done.txt")),
    ("staff/help.txt", include_str!("../templates/staff/help.txt")),
    ("staff/private_help.txt", include_str!("../templates/staff/private_help.txt")),
    ("staff/label.txt", include_str!("../templates/staff/label.txt")),
    ("staff/lead_not_found.txt", include_str!("../templates/staff/lead_not_found.txt")),
    ("staff/lost_menu_hint.txt", include_str!("../templates/staff/lost_menu_hint.txt")),
    ("staff/moved.txt", include_str!("../templates/staff/moved.txt")),
    ("staff/my.txt", include_str!("../templates/staff/my.txt")),
    ("staff/not_staff.txt", include_str!("../templates/staff/not_staff.txt")),
    ("staff/note_empty.txt", include_str!("../templates/staff/note_empty.txt")),
    ("staff/note_saved.txt", include_str!("../templates/staff/note_saved.txt")),
    ("staff/queue.txt", include_str!("../templates/staff/queue.txt")),
    ("staff/refused.txt", include_str!("../templates/staff/refused.txt")),
    ("staff/reply_refused.txt", include_str!("../templates/staff/reply_refused.txt")),
    ("staff/staff_reply_signed.txt", include_str!("../templates/staff/staff_reply_signed.txt")),
    ("staff/stage_menu_hint.txt", include_str!("../templates/staff/stage_menu_hint.txt")),
    ("staff/stale_button.txt", include_str!("../templates/staff/stale_button.txt")),
    ("staff/topic_name.txt", include_str!("../templates/staff/topic_name.txt")),
    ("staff/topic_recreated.txt", include_str!("../templates/staff/topic_recreated.txt")),
    ("staff/unknown_command.txt", include_str!("../templates/staff/unknown_command.txt")),
    ("staff/unsupported_kind.txt", include_str!("../templates/staff/unsupported_kind.txt")),
    ("staff/usage_lead.txt", include_str!("../templates/staff/usage_lead.txt")),
    ("staff/unsubscribed.txt", include_str!("../templates/staff/unsubscribed.txt")),
    ("staff/resubscribed.txt", include_str!("../templates/staff/resubscribed.txt")),
    ("staff/media_failed.txt", include_str!("../templates/staff/media_failed.txt")),
    ("staff/media_downloading.txt", include_str!("../templates/staff/media_downloading.txt")),
    ("staff/template_sent.txt", include_str!("../templates/staff/template_sent.txt")),
    ("customer/welcome.txt", include_str!("../templates/customer/welcome.txt")),
    ("staff/car_results.txt", include_str!("../templates/staff/car_results.txt")),
    ("staff/vehicle_hint.txt", include_str!("../templates/staff/vehicle_hint.txt")),
    ("staff/inline_title.txt", include_str!("../templates/staff/inline_title.txt")),
    ("staff/inline_description.txt", include_str!("../templates/staff/inline_description.txt")),
    ("staff/inline_attach.txt", include_str!("../templates/staff/inline_attach.txt")),
    ("staff/vehicle_status.txt", include_str!("../templates/staff/vehicle_status.txt")),
    ("staff/vehicle_card.txt", include_str!("../templates/staff/vehicle_card.txt")),
    ("staff/photos.txt", include_str!("../templates/staff/photos.txt")),
    ("customer/vehicle_photos.txt", include_str!("../templates/customer/vehicle_photos.txt")),
    ("staff/bot_said.txt", include_str!("../templates/staff/bot_said.txt")),
    ("staff/button_pressed.txt", include_str!("../templates/staff/button_pressed.txt")),
    ("staff/bot_handoff.txt", include_str!("../templates/staff/bot_handoff.txt")),
    ("staff/opted_out.txt", include_str!("../templates/staff/opted_out.txt")),
    ("staff/flows.txt", include_str!("../templates/staff/flows.txt")),
    ("staff/task_reminder.txt", include_str!("../templates/staff/task_reminder.txt")),
    ("staff/task.txt", include_str!("../templates/staff/task.txt")),
    ("staff/ai.txt", include_str!("../templates/staff/ai.txt")),
    ("staff/ai_status.txt", include_str!("../templates/staff/ai_status.txt")),
    ("staff/assign.txt", include_str!("../templates/staff/assign.txt")),
    ("staff/shift.txt", include_str!("../templates/staff/shift.txt")),
    ("staff/owner.txt", include_str!("../templates/staff/owner.txt")),
    ("staff/team.txt", include_str!("../templates/staff/team.txt")),
    ("staff/task_new.txt", include_str!("../templates/staff/task_new.txt")),
    ("staff/task_escalation.txt", include_str!("../templates/staff/task_escalation.txt")),
    ("staff/review.txt", include_str!("../templates/staff/review.txt")),
    ("staff/review_feedback.txt", include_str!("../templates/staff/review_feedback.txt")),
    ("staff/reviews.txt", include_str!("../templates/staff/reviews.txt")),
    ("staff/myscore.txt", include_str!("../templates/staff/myscore.txt")),
    ("staff/tasks.txt", include_str!("../templates/staff/tasks.txt")),
    ("staff/no_chat.txt", include_str!("../templates/staff/no_chat.txt")),
    ("staff/call_move.txt", include_str!("../templates/staff/call_move.txt")),
    ("staff/call.txt", include_str!("../templates/staff/call.txt")),
    ("staff/call_recording.txt", include_str!("../templates/staff/call_recording.txt")),
    ("staff/draft.txt", include_str!("../templates/staff/draft.txt")),
    ("staff/digest.txt", include_str!("../templates/staff/digest.txt")),
    ("staff/digest_chart.txt", include_str!("../templates/staff/digest_chart.txt")),
    ("staff/report.txt", include_str!("../templates/staff/report.txt")),
    ("web/base.html", include_str!("../templates/web/base.html")),
    ("web/plain.html", include_str!("../templates/web/plain.html")),
    ("web/login.html", include_str!("../templates/web/login.html")),
    ("web/logout.html", include_str!("../templates/web/logout.html")),
    ("web/dashboard.html", include_str!("../templates/web/dashboard.html")),
    ("web/leads.html", include_str!("../templates/web/leads.html")),
    ("web/lead.html", include_str!("../templates/web/lead.html")),
];

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {source}")]
pub struct TemplateError {
    pub name: String,
    #[source]
    pub source: minijinja::Error,
}

/// The compiled template set.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The templates shipped in the binary. Fails only if a shipped template is broken,
    /// which the tests rule out.
    pub fn builtin() -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .build()
            .map_err(|source| TemplateError { name: "syntax".into(), source })?;
        env.set_syntax(syntax);
        // A template that reads a field the code does not pass renders it empty rather than
        // failing the whole message.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in BUILTIN {
            env.add_template(name, source).map_err(|source| TemplateError { name: name.to_string(), source })?;
        }
        Ok(Templates { env })
    }

    /// Render a template; the result is trimmed of surrounding blank lines.
    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, TemplateError> {
        let t = self.env.get_template(name).map_err(|source| TemplateError { name: name.to_string(), source })?;
        let out = t
            .render(minijinja::value::Serde(&ctx))
            .map_err(|source| TemplateError { name: name.to_string(), source })?;
        Ok(out.trim().to_string())
    }

    /// A label from `staff/label.txt` (`kind`: stage, lost or button), or `fallback` when
    /// the template gives nothing (an admin removed a line).
    pub fn label(&self, kind: &str, value: &str, fallback: &str) -> String {
        match self.render("staff/label.txt", minijinja::context! { kind, value }) {
            Ok(s) if !s.is_empty() => s,
            _ => fallback.to_string(),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_compiles_and_renders_with_an_empty_context() {
        let t = Templates::builtin().expect("templates compile");
        for name in t.names() {
            t.render(name, minijinja::context! {}).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn every_stage_reason_and_button_has_a_label() {
        let t = Templates::builtin().unwrap();
        for s in crate::domain::Stage::ALL {
            assert_eq!(t.label("stage", s.as_str(), "?"), s.label());
        }
        for r in crate::domain::LostReason::ALL {
            assert_eq!(t.label("lost", r.as_str(), "?"), r.label());
        }
        for b in [
            "claim",
            "stage_menu",
            "lost_menu",
            "back",
            "send_template",
            "vehicle_menu",
            "attach",
            "detach",
            "bot_on",
            "bot_off",
        ] {
            assert_ne!(t.label("button", b, "?"), "?", "{b}");
        }
        assert_eq!(t.label("button", "unknown", "fallback"), "fallback");
    }

    #[test]
    fn the_card_shows_owner_or_unassigned() {
        let t = Templates::builtin().unwrap();
        let lead = minijinja::context! { id => 7, customer => "Olena", channel => "Telegram", stage => "New",
        last_message => "hi", last_message_at => "09:00" };
        let card = t.render("staff/card.txt", minijinja::context! { lead }).unwrap();
        assert!(card.starts_with("🚗 Lead #7 · Olena"), "{card}");
        assert!(card.contains("Owner: — unassigned —"), "{card}");
        assert!(card.contains("Last message (09:00): hi"), "{card}");
    }
}
