//! Where a set of flow files comes from: the flows directory and the flow templates on
//! disk (what admins edit), or the defaults built into the binary (so a fresh machine, or
//! a binary run outside the repository, still greets customers).

use super::check::{Snapshot, TEMPLATES};
use std::path::Path;

/// The shipped defaults: flows/ and templates/flows/ of this repository.
const BUILTIN: &[(&str, &str)] = &[
    ("flows/after_hours.yaml", include_str!("../../flows/after_hours.yaml")),
    ("flows/followup_day3.yaml", include_str!("../../flows/followup_day3.yaml")),
    ("flows/followup_day7.yaml", include_str!("../../flows/followup_day7.yaml")),
    ("flows/settings.yaml", include_str!("../../flows/settings.yaml")),
    ("flows/welcome.yaml", include_str!("../../flows/welcome.yaml")),
    ("templates/flows/en/after_hours/closed.txt", include_str!("../../templates/flows/en/after_hours/closed.txt")),
    (
        "templates/flows/en/common/not_understood.txt",
        include_str!("../../templates/flows/en/common/not_understood.txt"),
    ),
    ("templates/flows/en/common/opted_out.txt", include_str!("../../templates/flows/en/common/opted_out.txt")),
    ("templates/flows/en/followup/day3.txt", include_str!("../../templates/flows/en/followup/day3.txt")),
    ("templates/flows/en/followup/day7.txt", include_str!("../../templates/flows/en/followup/day7.txt")),
    ("templates/flows/en/followup/thanks.txt", include_str!("../../templates/flows/en/followup/thanks.txt")),
    ("templates/flows/en/welcome/ask_budget.txt", include_str!("../../templates/flows/en/welcome/ask_budget.txt")),
    ("templates/flows/en/welcome/ask_car.txt", include_str!("../../templates/flows/en/welcome/ask_car.txt")),
    ("templates/flows/en/welcome/ask_intent.txt", include_str!("../../templates/flows/en/welcome/ask_intent.txt")),
    ("templates/flows/en/welcome/ask_note.txt", include_str!("../../templates/flows/en/welcome/ask_note.txt")),
    ("templates/flows/en/welcome/ask_own_car.txt", include_str!("../../templates/flows/en/welcome/ask_own_car.txt")),
    ("templates/flows/en/welcome/ask_service.txt", include_str!("../../templates/flows/en/welcome/ask_service.txt")),
    ("templates/flows/en/welcome/greeting.txt", include_str!("../../templates/flows/en/welcome/greeting.txt")),
    ("templates/flows/en/welcome/handoff.txt", include_str!("../../templates/flows/en/welcome/handoff.txt")),
    (
        "templates/flows/en/welcome/handoff_closed.txt",
        include_str!("../../templates/flows/en/welcome/handoff_closed.txt"),
    ),
    ("templates/flows/uk/after_hours/closed.txt", include_str!("../../templates/flows/uk/after_hours/closed.txt")),
    (
        "templates/flows/uk/common/not_understood.txt",
        include_str!("../../templates/flows/uk/common/not_understood.txt"),
    ),
    ("templates/flows/uk/common/opted_out.txt", include_str!("../../templates/flows/uk/common/opted_out.txt")),
    ("templates/flows/uk/followup/day3.txt", include_str!("../../templates/flows/uk/followup/day3.txt")),
    ("templates/flows/uk/followup/day7.txt", include_str!("../../templates/flows/uk/followup/day7.txt")),
    ("templates/flows/uk/followup/thanks.txt", include_str!("../../templates/flows/uk/followup/thanks.txt")),
    ("templates/flows/uk/welcome/ask_budget.txt", include_str!("../../templates/flows/uk/welcome/ask_budget.txt")),
    ("templates/flows/uk/welcome/ask_car.txt", include_str!("../../templates/flows/uk/welcome/ask_car.txt")),
    ("templates/flows/uk/welcome/ask_intent.txt", include_str!("../../templates/flows/uk/welcome/ask_intent.txt")),
    ("templates/flows/uk/welcome/ask_note.txt", include_str!("../../templates/flows/uk/welcome/ask_note.txt")),
    ("templates/flows/uk/welcome/ask_own_car.txt", include_str!("../../templates/flows/uk/welcome/ask_own_car.txt")),
    ("templates/flows/uk/welcome/ask_service.txt", include_str!("../../templates/flows/uk/welcome/ask_service.txt")),
    ("templates/flows/uk/welcome/greeting.txt", include_str!("../../templates/flows/uk/welcome/greeting.txt")),
    ("templates/flows/uk/welcome/handoff.txt", include_str!("../../templates/flows/uk/welcome/handoff.txt")),
    (
        "templates/flows/uk/welcome/handoff_closed.txt",
        include_str!("../../templates/flows/uk/welcome/handoff_closed.txt"),
    ),
];

pub fn builtin() -> Snapshot {
    BUILTIN.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Read `flows_dir/*.yaml` and `templates_dir/flows/**/*.txt`; `None` when the flows
/// directory does not exist. Unreadable files are errors (the check never sees half a set).
pub fn read_dir(flows_dir: &Path, templates_dir: &Path) -> std::io::Result<Option<Snapshot>> {
    if !flows_dir.is_dir() {
        return Ok(None);
    }
    let mut out = Snapshot::new();
    for e in std::fs::read_dir(flows_dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        // The call script lives beside the flows but is not one (`flows::script`).
        let flow_file = (name.ends_with(".yaml") || name.ends_with(".yml")) && name != super::script::FILE;
        if e.file_type()?.is_file() && flow_file && !name.starts_with('.') {
            out.insert(format!("flows/{name}"), std::fs::read_to_string(e.path())?);
        }
    }
    let root = templates_dir.join("flows");
    if root.is_dir() {
        let mut todo = vec![root.clone()];
        while let Some(dir) = todo.pop() {
            for e in std::fs::read_dir(&dir)? {
                let e = e?;
                let p = e.path();
                if e.file_type()?.is_dir() {
                    todo.push(p);
                } else if p.extension().is_some_and(|x| x == "txt") {
                    let rel = p.strip_prefix(&root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                    out.insert(format!("{TEMPLATES}{rel}"), std::fs::read_to_string(&p)?);
                }
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_defaults_are_the_repositorys_files_and_pass_the_check() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let disk = read_dir(&root.join("flows"), &root.join("templates")).unwrap().unwrap();
        assert_eq!(disk.keys().collect::<Vec<_>>(), builtin().keys().collect::<Vec<_>>(), "BUILTIN lists every file");
        assert_eq!(disk, builtin());
        if let Err(problems) = super::super::check(&builtin()) {
            panic!("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"));
        }
    }
}
