//! The prompts: minijinja templates in `templates/ai/`, built in, and read from the
//! dealership's own `<templates dir>/ai/` when a file of the same name is there (read at
//! every use, so a tuned prompt takes effect without a restart). A prompt that does not
//! render falls back to the built-in one, with a log line.

use minijinja::Environment;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tracing::warn;

const BUILTIN: &[(&str, &str)] = &[
    ("hot_score_system.txt", include_str!("../../templates/ai/hot_score_system.txt")),
    ("lead_input.txt", include_str!("../../templates/ai/lead_input.txt")),
    ("intent_system.txt", include_str!("../../templates/ai/intent_system.txt")),
    ("draft_system.txt", include_str!("../../templates/ai/draft_system.txt")),
    ("script_check_system.txt", include_str!("../../templates/ai/script_check_system.txt")),
    ("script_check_input.txt", include_str!("../../templates/ai/script_check_input.txt")),
];

/// Where the dealership's prompts are.
#[derive(Debug, Clone)]
pub struct Prompts {
    dir: PathBuf,
}

fn render_source<S: Serialize>(source: &str, ctx: &S) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).build()?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.render_str(source, minijinja::value::Serde(ctx)).map(|s| s.trim().to_string())
}

impl Prompts {
    pub fn new(templates_dir: &Path) -> Prompts {
        Prompts { dir: templates_dir.join("ai") }
    }

    /// The names of the built-in prompts.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }

    /// Render prompt `name` (`hot_score_system.txt`, …) with `ctx`.
    pub fn render<S: Serialize>(&self, name: &str, ctx: &S) -> String {
        let builtin = BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or_default();
        let path = self.dir.join(name);
        if let Ok(own) = std::fs::read_to_string(&path) {
            match render_source(&own, ctx) {
                Ok(s) => return s,
                Err(e) => {
                    warn!(prompt = %path.display(), error = %e, "the dealership's prompt does not render; using the built-in one")
                }
            }
        }
        render_source(builtin, ctx).unwrap_or_else(|e| {
            warn!(prompt = name, error = %e, "a built-in prompt does not render");
            String::new()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dealerships_prompt_wins_and_a_broken_one_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = Prompts::new(dir.path());
        let ctx = serde_json::json!({"language": "en"});
        let builtin = p.render("hot_score_system.txt", &ctx);
        assert!(builtin.contains("0 to 100"), "{builtin}");
        std::fs::create_dir_all(dir.path().join("ai")).unwrap();
        std::fs::write(dir.path().join("ai/hot_score_system.txt"), "Rate it. Reasons in {{ language }}.").unwrap();
        assert_eq!(p.render("hot_score_system.txt", &ctx), "Rate it. Reasons in en.");
        std::fs::write(dir.path().join("ai/hot_score_system.txt"), "{% if %}").unwrap();
        assert_eq!(p.render("hot_score_system.txt", &ctx), builtin);
    }

    #[test]
    fn every_builtin_prompt_renders() {
        let p = Prompts::new(Path::new("/nonexistent"));
        for name in Prompts::names() {
            assert!(!p.render(name, &serde_json::json!({})).is_empty(), "{name}");
        }
    }
}
