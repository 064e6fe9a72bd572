//! What every staff handler says things with: a template rendered (a template that cannot
//! render is a bug, logged, and the update is still confirmed), and a button's answer.
//! Low in the staff folder: it imports no handler, so any may use it.

use crate::context::App;
use tracing::error;

/// The answer to a button press: its text, and whether it pops up (refusals do).
pub type Answer = (String, bool);

pub fn render(app: &App, name: &str, ctx: minijinja::Value) -> String {
    app.templates.render(name, ctx).unwrap_or_else(|e| {
        error!(error = %e, "template failed");
        String::from("…")
    })
}
