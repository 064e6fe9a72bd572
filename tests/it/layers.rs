//! Who may import whom (ARCHITECTURE.md, "Layers"): every `crate::…` path in src/ is read
//! and checked against the layer table below; a path that points up fails the test with
//! the file and the line. Same-layer imports are allowed; down is always fine.

use std::path::{Path, PathBuf};

/// Module path prefixes and their layers, most specific first. Higher numbers are higher
/// in the house.
const LAYERS: &[(&str, u8, &str)] = &[
    ("main", 5, "entry"),
    ("cli", 5, "entry"),
    ("demo", 5, "entry"),
    ("bench", 5, "entry"),
    ("sandbox", 5, "entry (the fakes)"),
    ("app", 4, "wiring"),
    ("worker", 3, "handler"),
    ("web", 3, "handler"),
    ("staff", 3, "handler"),
    ("flows::run", 3, "handler"),
    ("flows::admin", 3, "handler"),
    ("flows::watch", 3, "handler"),
    ("media::fetch", 3, "handler"),
    ("context", 2, "shared state"),
    ("ai", 2, "the AI client"),
    ("supervise", 2, "shared state"),
    ("channels", 2, "clients"),
    ("media", 2, "media store"),
    ("notices", 2, "notices"),
    ("ingest", 2, "ingest"),
    ("calls", 2, "call ingest"),
    ("writer", 2, "batching writers"),
    ("changes", 2, "lead changes"),
    ("inventory", 2, "vehicle search"),
    ("jobs", 2, "job runner"),
    ("templates", 2, "templates"),
    ("config", 2, "config"),
    ("clock", 2, "clock"),
    ("flows", 2, "flow sets"),
    ("store", 1, "store"),
    ("domain", 0, "domain"),
];

fn layer(module: &str) -> Option<(u8, &'static str, &'static str)> {
    LAYERS
        .iter()
        .find(|(prefix, _, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
        .map(|(p, l, n)| (*l, *p, *n))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod").collect();
    parts.join("::")
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let module = module_of(&src, &file);
        if module == "lib" {
            continue;
        }
        let Some((from, from_prefix, _)) = layer(&module) else {
            wrong.push(format!("{module}: not in the layer table of tests/it/layers.rs"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break; // a module's tests may reach anywhere
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                let path: String =
                    rest[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
                rest = &rest[i + 7..];
                let path = path.trim_end_matches(':');
                let Some((to, to_prefix, to_name)) = layer(path) else { continue };
                if to > from && to_prefix != from_prefix {
                    wrong.push(format!(
                        "{}:{}: {module} imports {path} ({to_name}, a layer above)",
                        file.strip_prefix(&src).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports that point up:\n{}", wrong.join("\n"));
}
