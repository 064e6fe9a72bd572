//! The call script's file (`flows/call_script.yaml`, beside the flows; the copy built into
//! the binary when the flows directory has none): read into `domain::script::Script` and
//! checked. `forecourt flows check` checks it with the flows; the service refuses to start
//! with a script that does not pass, naming each problem.
//!
//! [`Scripts`] holds the active script. Every version's text is kept (`call_scripts`), and
//! the highest version is active: the file's at start unless an admin uploaded a higher one
//! in the staff group (`flows::script_admin`). A version's text never changes, since
//! reviews name the version they were made against.

use crate::domain::script::{Criterion, Replace, Script, ScriptStage};
use crate::store::{Store, StoreError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use tracing::{info, warn};

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

/// The active call script.
pub struct Scripts {
    store: Store,
    active: RwLock<Arc<Script>>,
}

impl Scripts {
    /// Keep the file's version and make the highest stored version active. A file that does
    /// not pass refuses the start.
    pub async fn start(store: Store, dir: Option<&Path>, now: i64) -> anyhow::Result<Scripts> {
        use anyhow::Context as _;
        let (text, from) = read(dir).context("reading the call script")?;
        let file =
            parse(&text).map_err(|p| anyhow::anyhow!("the call script ({from}) does not pass:\n{}", p.join("\n")))?;
        let mut tx = store.begin().await?;
        if crate::store::keep_script(&mut tx, file.version, &text, now).await? {
            warn!(
                version = file.version,
                "the call script changed but its version did not: reviews go on against the text kept for \
                 that version; raise `version` in call_script.yaml"
            );
        }
        tx.commit().await?;
        let mut active = file;
        if let Some((v, body)) = store.latest_script().await?.filter(|(v, _)| *v > active.version) {
            match parse(&body) {
                Ok(s) => {
                    info!(
                        version = v,
                        file = active.version,
                        "an uploaded call script is newer than the file: it stays active"
                    );
                    active = s;
                }
                Err(p) => {
                    warn!(version = v, problems = %p.join("; "), "a stored call script no longer passes the check")
                }
            }
        }
        Ok(Scripts { store, active: RwLock::new(Arc::new(active)) })
    }

    pub fn current(&self) -> Arc<Script> {
        self.active.read().expect("the script lock is never poisoned").clone()
    }

    /// The script a review was made against.
    pub async fn version(&self, version: i64) -> Result<Arc<Script>, StoreError> {
        let current = self.current();
        if version == current.version {
            return Ok(current);
        }
        let body = self.store.script_body(version).await?.ok_or(StoreError::NotFound)?;
        parse(&body)
            .map(Arc::new)
            .map_err(|p| StoreError::Corrupt(format!("call script version {version}: {}", p.join("; "))))
    }

    /// Check `text` against the active script: the new script, or why it may not replace it.
    pub fn candidate(&self, text: &str) -> Result<Script, Refused> {
        let new = parse(text).map_err(Refused::Problems)?;
        self.current().may_replace(&new).map_err(Refused::Replace)?;
        Ok(new)
    }

    /// Make `text` the active script (checked again against the script active now); its
    /// version is kept with its text.
    pub async fn activate(&self, text: &str, now: i64) -> anyhow::Result<Result<Arc<Script>, Refused>> {
        let new = match self.candidate(text) {
            Ok(s) => Arc::new(s),
            Err(r) => return Ok(Err(r)),
        };
        let mut tx = self.store.begin().await?;
        if crate::store::keep_script(&mut tx, new.version, text, now).await? {
            // Kept before with another text (a version once uploaded and then passed over).
            return Ok(Err(Refused::Replace(Replace::VersionNotRaised { active: new.version, new: new.version })));
        }
        tx.commit().await?;
        *self.active.write().expect("never poisoned") = new.clone();
        info!(version = new.version, "call script activated");
        Ok(Ok(new))
    }
}

/// Why an uploaded script was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Problems(Vec<String>),
    Replace(Replace),
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
