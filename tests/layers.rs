//! The tree's layers: which top-level module of `src/` may use which (the
//! README's "Layout" draws the same table). A file that imports from a
//! module its layer may not use fails here, so a lower module (wire
//! format, position, chain, multiline, queue, records, Docker client,
//! config, log) can never reach up into the engine or the edges again, and
//! no import circle can form between modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module, lowest first, with the modules it may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("named", &[]),
    ("timestamp", &[]),
    ("log", &["named"]),
    ("frame", &["timestamp"]),
    ("position", &["frame"]),
    ("record", &["frame", "position", "timestamp"]),
    ("chain", &["frame", "position", "record"]),
    ("multiline", &["chain", "frame", "position", "record"]),
    ("queue", &["record", "frame"]),
    ("docker", &["record", "chain", "frame", "timestamp"]),
    ("config", &["docker", "multiline", "log", "timestamp"]),
    (
        "engine",
        &["config", "docker", "queue", "multiline", "chain", "position", "record", "frame", "log", "timestamp", "named"],
    ),
    ("ffi", &["engine", "config", "record", "log"]),
    ("fluentbit", &["ffi", "engine", "config", "record", "frame", "log", "timestamp"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/engine/reader/mod.rs` →
/// `engine`); None for `lib.rs`.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    (first != "lib.rs").then(|| first.trim_end_matches(".rs").to_string())
}

/// The top-level modules a file names through `crate::`, outside comments.
fn uses(text: &str, known: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if known.contains(name.as_str()) {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_from_its_lower_layers() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> =
        LAYERS.iter().map(|(m, deps)| (*m, deps.iter().copied().collect())).collect();
    let known: BTreeSet<&str> = allowed.keys().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else { continue };
        let Some(may) = allowed.get(module.as_str()) else {
            problems.push(format!("{}: module {module} is not in the LAYERS table", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in uses(&text, &known) {
            if used != module && !may.contains(used.as_str()) {
                problems.push(format!("{}: {module} imports {used}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "imports against the layers (README, Layout):\n{}", problems.join("\n"));
}

#[test]
fn the_layers_only_point_down() {
    // Each module may use only modules listed before it: no circle can form.
    for (i, (module, deps)) in LAYERS.iter().enumerate() {
        let lower: BTreeSet<&str> = LAYERS[..i].iter().map(|(m, _)| *m).collect();
        for dep in *deps {
            assert!(lower.contains(dep), "{module} may use {dep}, which is not below it");
        }
    }
}

#[test]
fn the_scan_sees_an_upward_import() {
    // The check is only as good as the scan: it must see these.
    let known: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    let text = "use crate::engine::registry::Tracked;\nlet x = crate::ffi::guard(0, || 1); // crate::log\n";
    let found = uses(text, &known);
    assert_eq!(found, ["engine", "ffi"].iter().map(|s| s.to_string()).collect());
}
