//! The call script's file (`flows/call_script.yaml`, beside the flows; the copy built into
//! the binary when the flows directory has none): read into `domain::script::Script` and
//! checked. `forecourt flows check` checks it with the flows; the service refuses to start
//! with a script that does not pass, naming each problem.

use crate::domain::script::{Criterion, Script, ScriptStage};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE: &str = "call_script.yaml";
const BUILTIN: &str = include_str!("../../flows/call_script.yaml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    version: i64,
    languages: Vec<String>,
    stages: Vec<RawStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    id: String,
    title: BTreeMap<String, String>,
    criteria: Vec<RawCriterion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCriterion {
    id: String,
    text: BTreeMap<String, String>,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default)]
    critical: bool,
}

fn one() -> u32 {
    1
}

/// Read and check a script's text; every problem is one line.
pub fn parse(text: &str) -> Result<Script, Vec<String>> {
    let raw: RawScript = serde_saphyr::from_str(text).map_err(|e| vec![format!("{FILE}: {e}")])?;
    let script = Script {
        version: raw.version,
        languages: raw.languages,
        stages: raw
            .stages
            .into_iter()
            .map(|s| ScriptStage {
                id: s.id,
                title: s.title,
                criteria: s
                    .criteria
                    .into_iter()
                    .map(|c| Criterion { id: c.id, text: c.text, weight: c.weight, critical: c.critical })
                    .collect(),
            })
            .collect(),
    };
    let problems = script.check();
    if problems.is_empty() {
        Ok(script)
    } else {
        Err(problems.into_iter().map(|p| format!("{FILE}: {p}")).collect())
    }
}

/// The script's text: `dir/call_script.yaml` when the flows directory has one, else the
/// built-in copy. Returns the text and where it came from.
pub fn read(dir: Option<&Path>) -> std::io::Result<(String, String)> {
    if let Some(d) = dir {
        let p = d.join(FILE);
        if p.is_file() {
            return Ok((std::fs::read_to_string(&p)?, p.display().to_string()));
        }
    }
    Ok((BUILTIN.to_string(), "the built-in call script".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_script_passes() {
        let s = parse(BUILTIN).unwrap_or_else(|p| panic!("{}", p.join("\n")));
        assert!(s.len() >= 5);
        assert!(s.criteria().any(|(_, c)| c.critical));
    }

    #[test]
    fn a_broken_script_says_what_is_wrong() {
        let e = parse("version: 1\nlanguages: [uk]\nstages: []\n").unwrap_err().join("\n");
        assert!(e.contains("no criteria"), "{e}");
        let e = parse("version: one\n").unwrap_err().join("\n");
        assert!(e.contains(FILE), "{e}");
        let e = parse(
            "version: 2\nlanguages: [uk]\nstages:\n  - id: a\n    title: {uk: A}\n    criteria:\n      - {id: x, text: {uk: X}, weight: 500}\n",
        )
        .unwrap_err()
        .join("\n");
        assert!(e.contains("weight 500"), "{e}");
    }
}
