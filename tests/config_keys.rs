//! Every configuration key is documented where users look for it: the
//! README's "Configuration" table, Go's `Config` (a field tagged with it),
//! the Python binding's README and the Fluent Bit property table. A key
//! added to `config::KEYS` and forgotten in one of them fails here.

use std::path::Path;

use log_capturer::config::KEYS;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The lines of the Markdown table under the heading `heading`.
fn table_under(text: &str, heading: &str) -> String {
    let at = text.find(heading).unwrap_or_else(|| panic!("no heading {heading:?}"));
    let section = &text[at..];
    let end = section[heading.len()..].find("\n## ").map_or(section.len(), |e| e + heading.len());
    section[..end].lines().filter(|l| l.starts_with('|')).collect::<Vec<_>>().join("\n")
}

/// Keys not found by `named` in `doc`.
fn missing(named: impl Fn(&str) -> bool) -> Vec<&'static str> {
    KEYS.iter().copied().filter(|k| !named(k)).collect()
}

#[test]
fn every_key_is_in_the_readme_configuration_table() {
    let table = table_under(&read("README.md"), "## Configuration");
    assert_eq!(missing(|k| table.contains(&format!("`{k}`"))), Vec::<&str>::new());
}

#[test]
fn every_key_is_a_field_of_gos_config() {
    let go = read("bindings/go/config.go");
    assert_eq!(missing(|k| go.contains(&format!("`json:\"{k},"))), Vec::<&str>::new());
}

#[test]
fn every_key_is_in_the_python_bindings_readme() {
    let python = read("bindings/python/README.md");
    assert_eq!(missing(|k| python.contains(&format!("`{k}`"))), Vec::<&str>::new());
}

#[test]
fn every_key_is_in_the_fluent_bit_property_table_or_said_to_be_fluent_bits() {
    let text = read("bindings/fluent-bit/README.md");
    let table = table_under(&text, "## Properties");
    let fluent_bits = text.contains("`log_level` is Fluent Bit's own property");
    let named = |k: &str| table.contains(&format!("| `{k}` |")) || (k == "log_level" && fluent_bits);
    assert_eq!(missing(named), Vec::<&str>::new());
}
