//! The documentation names every configuration key the library accepts,
//! and nothing else: the README's configuration table, the Go binding's
//! `Config` (a json tag per key) and the Fluent Bit property table (the
//! library's keys but `log_level`, which Fluent Bit keeps for itself, and
//! `multiline` as its dotted keys, plus the plugin's own). A key added later without its documentation fails
//! here. The Fluent Bit configuration examples must parse and name only
//! properties the plugin accepts, with values it accepts (CI has no Fluent
//! Bit to try them in).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use log_capturer::config::{property_keys, KEYS};
use log_capturer::log::LogLevel;
use log_capturer::fluentbit::properties::{self, PLUGIN_KEYS};
use yaml_rust2::{Yaml, YamlLoader};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The backquoted names in the first column of the Markdown table that
/// follows `heading` (up to the next heading).
fn table_keys(markdown: &str, heading: &str) -> BTreeSet<String> {
    let start = markdown.find(heading).unwrap_or_else(|| panic!("no {heading:?} section"));
    let section = &markdown[start + heading.len()..];
    let section = &section[..section.find("\n#").unwrap_or(section.len())];
    let mut keys = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with('|')) {
        let first = row.split('|').nth(1).unwrap_or("");
        keys.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
    }
    keys
}

/// Names missing from `documented` and names it has that are not keys.
fn compare(what: &str, documented: &BTreeSet<String>, keys: &BTreeSet<String>) {
    let missing: Vec<_> = keys.difference(documented).collect();
    let unknown: Vec<_> = documented.difference(keys).collect();
    assert!(missing.is_empty() && unknown.is_empty(), "{what}: undocumented keys {missing:?}; not keys {unknown:?}");
}

fn library_keys() -> BTreeSet<String> {
    KEYS.iter().map(|k| k.to_string()).collect()
}

/// The keys of a Fluent Bit `log_capturer` input (`multiline` as its
/// dotted keys).
fn plugin_keys() -> BTreeSet<String> {
    property_keys().filter(|&k| k != "log_level").chain(PLUGIN_KEYS.iter().copied()).map(|k| k.to_string()).collect()
}

#[test]
fn readme_configuration_table_names_every_key() {
    let table = table_keys(&read("README.md"), "\n## Configuration\n");
    compare("README.md, Configuration", &table, &library_keys());
}

#[test]
fn go_config_has_a_field_for_every_key() {
    let source = read("bindings/go/config.go");
    let tags: BTreeSet<String> = source
        .split("`json:\"")
        .skip(1)
        .map(|rest| rest.split(['"', ',']).next().unwrap_or("").to_string())
        .filter(|tag| tag != "-")
        .collect();
    compare("bindings/go/config.go, Config", &tags, &library_keys());
}

#[test]
fn fluent_bit_property_table_names_every_property() {
    let table = table_keys(&read("bindings/fluent-bit/README.md"), "\n## Properties\n");
    compare("bindings/fluent-bit/README.md, Properties", &table, &plugin_keys());
}

/// Reads an input's properties as the plugin does at Init: Fluent Bit
/// consumes `name` itself; the rest is looked up by key and every written
/// key is checked (see `properties::read`).
fn check_input(file: &str, properties: &BTreeMap<String, String>) {
    let get = |key: &str| -> Result<Option<String>, String> {
        Ok(properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(key) && *k != "name").map(|(_, v)| v.clone()))
    };
    let written: Vec<String> = properties.keys().filter(|k| *k != "name").cloned().collect();
    if let Err(e) = properties::read(&get, &written, LogLevel::Warn) {
        panic!("{file}: the log_capturer input is refused: {}", e.0);
    }
    let ours = plugin_keys();
    assert!(properties.keys().any(|k| ours.contains(k)), "{file}: the input sets none of the plugin's properties");
}

fn scalar(value: &Yaml) -> String {
    match value {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar property value: {other:?}"),
    }
}

fn files(ext: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(repo("bindings/fluent-bit"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(ext))
        .map(|name| format!("bindings/fluent-bit/{name}"))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no {ext} examples");
    found
}

#[test]
fn fluent_bit_yaml_examples_parse_and_name_only_accepted_properties() {
    for file in files(".yaml") {
        let docs = YamlLoader::load_from_str(&read(&file)).unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
        let doc = &docs[0];
        let plugins = doc["plugins"].as_vec().unwrap_or_else(|| panic!("{file}: no plugins list"));
        assert!(
            plugins.iter().any(|p| p.as_str().is_some_and(|p| p.starts_with('/') && p.contains("/liblog_capturer.so"))),
            "{file}: plugins must load liblog_capturer.so by absolute path"
        );
        let inputs = doc["pipeline"]["inputs"].as_vec().unwrap_or_else(|| panic!("{file}: no pipeline.inputs"));
        let ours: Vec<_> = inputs.iter().filter(|i| i["name"].as_str() == Some("log_capturer")).collect();
        assert!(!ours.is_empty(), "{file}: no log_capturer input");
        for input in ours {
            let map = input.as_hash().unwrap();
            let properties = map.iter().map(|(k, v)| (scalar(k), scalar(v))).collect();
            check_input(&file, &properties);
        }
    }
}

#[test]
fn fluent_bit_classic_examples_name_only_accepted_properties() {
    let mut inputs = 0;
    for file in files(".conf") {
        let text = read(&file);
        let mut section = String::new();
        let mut properties: Vec<BTreeMap<String, String>> = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']).to_ascii_uppercase();
                if section == "INPUT" {
                    properties.push(BTreeMap::new());
                }
                continue;
            }
            let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            match section.as_str() {
                "INPUT" => {
                    properties.last_mut().unwrap().insert(key.to_string(), value.trim().to_string());
                }
                "PLUGINS" => assert!(
                    key.eq_ignore_ascii_case("path") && value.trim().contains("/liblog_capturer.so"),
                    "{file}: {line}"
                ),
                _ => {}
            }
        }
        for input in properties.iter().filter(|p| p.get("name").map(String::as_str) == Some("log_capturer")) {
            check_input(&file, input);
            inputs += 1;
        }
    }
    assert!(inputs > 0, "no classic example has a log_capturer input");
}
