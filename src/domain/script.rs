//! The call script supervisors review calls against (`flows/call_script.yaml`): criteria
//! grouped in stages, each with a weight and a critical flag, texts in the flow languages,
//! and a version. What a review scores: the weighted share of the criteria met, criteria
//! that do not apply left out, and any critical criterion missed flagged.
//!
//! Pure: the file is read in `flows::script`.

use std::collections::{BTreeMap, HashSet};

/// One criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    pub id: String,
    /// By language code.
    pub text: BTreeMap<String, String>,
    pub weight: u32,
    pub critical: bool,
}

/// A stage of the call (greeting, needs, presentation, objections, closing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStage {
    pub id: String,
    pub title: BTreeMap<String, String>,
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub version: i64,
    pub languages: Vec<String>,
    pub stages: Vec<ScriptStage>,
}

/// A reviewer's word on one criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    NotApplicable,
}

impl Verdict {
    pub fn code(self) -> char {
        match self {
            Verdict::Met => 'm',
            Verdict::Missed => 'x',
            Verdict::NotApplicable => 'n',
        }
    }
    pub fn from_code(c: char) -> Option<Verdict> {
        match c {
            'm' => Some(Verdict::Met),
            'x' => Some(Verdict::Missed),
            'n' => Some(Verdict::NotApplicable),
            _ => None,
        }
    }
}

/// What a finished review scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    /// 0–100, or `None` when no criterion applied.
    pub score: Option<u8>,
    /// The critical criteria missed, in script order.
    pub critical_missed: Vec<String>,
    /// Every criterion missed, in script order.
    pub missed: Vec<String>,
}

/// The most criteria a script may hold (a review is one button press each).
pub const MAX_CRITERIA: usize = 60;

impl Script {
    /// The criteria in the order a review walks them.
    pub fn criteria(&self) -> impl Iterator<Item = (&ScriptStage, &Criterion)> {
        self.stages.iter().flat_map(|s| s.criteria.iter().map(move |c| (s, c)))
    }

    pub fn len(&self) -> usize {
        self.stages.iter().map(|s| s.criteria.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The criterion at `index` in review order.
    pub fn criterion(&self, index: usize) -> Option<(&ScriptStage, &Criterion)> {
        self.criteria().nth(index)
    }

    /// A text in `lang`, or the first language's.
    pub fn text<'a>(&'a self, texts: &'a BTreeMap<String, String>, lang: &str) -> &'a str {
        texts
            .get(lang)
            .or_else(|| self.languages.first().and_then(|l| texts.get(l)))
            .or_else(|| texts.values().next())
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Every problem with the script, named by where it is.
    pub fn check(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.version < 1 {
            p.push("version: must be a whole number from 1".to_string());
        }
        if self.languages.is_empty() {
            p.push("languages: list at least one, like [uk, en]".to_string());
        }
        if self.is_empty() {
            p.push("stages: no criteria".to_string());
        }
        if self.len() > MAX_CRITERIA {
            p.push(format!("stages: {} criteria, at most {MAX_CRITERIA}", self.len()));
        }
        let mut stage_ids = HashSet::new();
        let mut ids = HashSet::new();
        for s in &self.stages {
            if !stage_ids.insert(s.id.as_str()) {
                p.push(format!("stage {}: the id is used twice", s.id));
            }
            for l in &self.languages {
                if !s.title.contains_key(l) {
                    p.push(format!("stage {}: no title in {l}", s.id));
                }
            }
            for c in &s.criteria {
                let ok_id = !c.id.is_empty() && c.id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                if !ok_id {
                    p.push(format!("criterion {:?}: ids are letters, digits and _", c.id));
                }
                if !ids.insert(c.id.as_str()) {
                    p.push(format!("criterion {}: the id is used twice", c.id));
                }
                if !(1..=100).contains(&c.weight) {
                    p.push(format!("criterion {}: weight {} is not between 1 and 100", c.id, c.weight));
                }
                for l in &self.languages {
                    if c.text.get(l).is_none_or(|t| t.trim().is_empty()) {
                        p.push(format!("criterion {}: no text in {l}", c.id));
                    }
                }
            }
        }
        p
    }

    /// Score verdicts given in review order (missing ones count as not applicable).
    pub fn score(&self, verdicts: &[Verdict]) -> Scored {
        let (mut met, mut total) = (0u64, 0u64);
        let (mut critical_missed, mut missed) = (Vec::new(), Vec::new());
        for (i, (_, c)) in self.criteria().enumerate() {
            match verdicts.get(i).copied().unwrap_or(Verdict::NotApplicable) {
                Verdict::Met => {
                    met += u64::from(c.weight);
                    total += u64::from(c.weight);
                }
                Verdict::Missed => {
                    total += u64::from(c.weight);
                    missed.push(c.id.clone());
                    if c.critical {
                        critical_missed.push(c.id.clone());
                    }
                }
                Verdict::NotApplicable => {}
            }
        }
        let score = (total > 0).then(|| ((met * 100 + total / 2) / total) as u8);
        Scored { score, critical_missed, missed }
    }
}

/// Why an uploaded script may not replace the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replace {
    /// The same script: nothing to do.
    Same,
    /// Reviews name the version they were made against, so a version's text never changes:
    /// a new text needs a version above the active one.
    VersionNotRaised { active: i64, new: i64 },
}

impl Script {
    /// May `new` replace this (the active) script? Only with a higher version.
    pub fn may_replace(&self, new: &Script) -> Result<(), Replace> {
        if new == self {
            Err(Replace::Same)
        } else if new.version <= self.version {
            Err(Replace::VersionNotRaised { active: self.version, new: new.version })
        } else {
            Ok(())
        }
    }

    /// What changes from this script to `new`, one line each, in `new`'s order then the
    /// removed ones.
    pub fn changes(&self, new: &Script) -> Vec<String> {
        let old: BTreeMap<&str, &Criterion> = self.criteria().map(|(_, c)| (c.id.as_str(), c)).collect();
        let mut out = Vec::new();
        for (_, c) in new.criteria() {
            let Some(o) = old.get(c.id.as_str()) else {
                let flag = if c.critical { ", critical" } else { "" };
                out.push(format!("➕ {} (weight {}{flag})", c.id, c.weight));
                continue;
            };
            let mut what = Vec::new();
            if o.weight != c.weight {
                what.push(format!("weight {} → {}", o.weight, c.weight));
            }
            if o.critical != c.critical {
                what.push(if c.critical { "now critical" } else { "no longer critical" }.to_string());
            }
            if o.text != c.text {
                what.push("text".to_string());
            }
            if !what.is_empty() {
                out.push(format!("✏️ {}: {}", c.id, what.join("; ")));
            }
        }
        let kept: HashSet<&str> = new.criteria().map(|(_, c)| c.id.as_str()).collect();
        for (_, c) in self.criteria().filter(|(_, c)| !kept.contains(c.id.as_str())) {
            out.push(format!("➖ {} removed", c.id));
        }
        let order = |s: &Script| s.criteria().map(|(st, c)| (st.id.clone(), c.id.clone())).collect::<Vec<_>>();
        if out.is_empty() && order(self) != order(new) {
            out.push("↕️ the order of the criteria".to_string());
        }
        if out.is_empty() {
            out.push("📝 stage titles or languages".to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(uk: &str, en: &str) -> BTreeMap<String, String> {
        [("uk".to_string(), uk.to_string()), ("en".to_string(), en.to_string())].into()
    }

    fn script() -> Script {
        let c = |id: &str, weight, critical| Criterion { id: id.into(), text: t(id, id), weight, critical };
        Script {
            version: 3,
            languages: vec!["uk".into(), "en".into()],
            stages: vec![
                ScriptStage {
                    id: "greeting".into(),
                    title: t("Привітання", "Greeting"),
                    criteria: vec![c("introduced", 1, false), c("name_asked", 1, false)],
                },
                ScriptStage {
                    id: "closing".into(),
                    title: t("Завершення", "Closing"),
                    criteria: vec![c("next_step", 3, true), c("thanked", 1, false)],
                },
            ],
        }
    }

    #[test]
    fn the_score_is_the_weighted_share_met_without_the_inapplicable() {
        use Verdict::*;
        let s = script();
        assert_eq!(s.score(&[Met, Met, Met, Met]).score, Some(100));
        assert_eq!(s.score(&[Missed, Missed, Missed, Missed]).score, Some(0));
        // 1 + 3 met of 1 + 1 + 3 + 1 = 4/6 → 67.
        let r = s.score(&[Met, Missed, Met, Missed]);
        assert_eq!(r.score, Some(67));
        assert_eq!(r.missed, vec!["name_asked", "thanked"]);
        assert!(r.critical_missed.is_empty());
        // Not applicable is left out: 1 of 1 + 3 = 25.
        let r = s.score(&[Met, NotApplicable, Missed, NotApplicable]);
        assert_eq!(r.score, Some(25));
        assert_eq!(r.critical_missed, vec!["next_step"], "a critical criterion missed is flagged");
        assert_eq!(s.score(&[NotApplicable; 4]).score, None, "nothing applied");
        assert_eq!(s.score(&[]).score, None, "missing verdicts are not applicable");
    }

    #[test]
    fn every_verdict_combination_scores_within_0_and_100() {
        use Verdict::*;
        let s = script();
        let all = [Met, Missed, NotApplicable];
        for a in all {
            for b in all {
                for c in all {
                    for d in all {
                        let v = [a, b, c, d];
                        let r = s.score(&v);
                        let applied = v.iter().any(|x| *x != NotApplicable);
                        assert_eq!(r.score.is_some(), applied, "{v:?}");
                        assert!(r.score.is_none_or(|x| x <= 100));
                        assert_eq!(r.critical_missed.is_empty(), c != Missed, "{v:?}");
                        if v.iter().all(|x| *x != Missed) && applied {
                            assert_eq!(r.score, Some(100), "{v:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_new_script_needs_a_higher_version_and_says_what_changes() {
        let old = script();
        assert_eq!(old.may_replace(&old), Err(Replace::Same));
        let mut new = old.clone();
        new.stages[0].criteria[0].weight += 1;
        assert_eq!(new.version, old.version);
        assert_eq!(old.may_replace(&new), Err(Replace::VersionNotRaised { active: old.version, new: old.version }));
        new.version = old.version - 1;
        assert!(old.may_replace(&new).is_err());
        new.version = old.version + 1;
        assert_eq!(old.may_replace(&new), Ok(()));

        let first = old.stages[0].criteria[0].clone();
        new.stages[0].criteria[0].critical = !first.critical;
        new.stages[0].criteria[0].text.insert("en".into(), "Something else".into());
        let removed = new.stages.last_mut().unwrap().criteria.pop().unwrap();
        new.stages[0].criteria.push(Criterion { id: "smile".into(), text: t("у", "s"), weight: 3, critical: true });
        let c = old.changes(&new);
        let crit = if first.critical { "no longer critical" } else { "now critical" };
        assert_eq!(c[0], format!("✏️ {}: weight {} → {}; {crit}; text", first.id, first.weight, first.weight + 1));
        assert!(c.contains(&"➕ smile (weight 3, critical)".to_string()), "{c:?}");
        assert_eq!(c.last().unwrap(), &format!("➖ {} removed", removed.id));
        assert_eq!(c.len(), 3, "{c:?}");

        // Only the order, or only the titles.
        let mut moved = old.clone();
        moved.version += 1;
        moved.stages[0].criteria.reverse();
        assert_eq!(old.changes(&moved), vec!["↕️ the order of the criteria".to_string()]);
        let mut titled = old.clone();
        titled.version += 1;
        titled.stages[0].title.insert("en".into(), "Hello".into());
        assert_eq!(old.changes(&titled), vec!["📝 stage titles or languages".to_string()]);
    }

    #[test]
    fn a_good_script_passes_and_a_bad_one_names_its_problems() {
        assert!(script().check().is_empty(), "{:?}", script().check());
        let mut bad = script();
        bad.version = 0;
        bad.stages[0].criteria[1].id = "introduced".into();
        bad.stages[1].criteria[0].weight = 0;
        bad.stages[1].criteria[1].text.remove("en");
        bad.stages[1].title.remove("uk");
        let p = bad.check().join("\n");
        for needle in [
            "version",
            "introduced: the id is used twice",
            "weight 0",
            "thanked: no text in en",
            "closing: no title in uk",
        ] {
            assert!(p.contains(needle), "{needle} in {p}");
        }
    }

    #[test]
    fn review_order_and_texts() {
        let s = script();
        assert_eq!(s.len(), 4);
        assert_eq!(s.criterion(2).map(|(st, c)| (st.id.as_str(), c.id.as_str())), Some(("closing", "next_step")));
        assert!(s.criterion(4).is_none());
        let g = &s.stages[0].title;
        assert_eq!(s.text(g, "en"), "Greeting");
        assert_eq!(s.text(g, "de"), "Привітання", "the first language when the reviewer's is missing");
        for v in [Verdict::Met, Verdict::Missed, Verdict::NotApplicable] {
            assert_eq!(Verdict::from_code(v.code()), Some(v));
        }
    }
}
