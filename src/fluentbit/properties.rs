//! The plugin's properties: every key of the engine's configuration, plus
//! the few that shape the records.
//!
//! Fluent Bit lets a proxy plugin *query* a property by its exact key
//! (`flb_api.input_get_property`, a case-insensitive exact match over the
//! instance's property list) and nothing else: the list itself is not
//! reachable through the API, and since the plugin registers no config map
//! (`flb_plugin_proxy_def` has none before 4.2.3), Fluent Bit stores every
//! key it does not know itself without complaint (`flb_input_set_property`
//! in `src/flb_input.c`; its own keys — `tag`, `log_level`, `mem_buf_limit`,
//! `storage.type`… — are consumed and never reach the list).
//!
//! So unknown keys are guessed, and Fluent Bit's own lookup is the judge:
//! a guess that is set on this instance is a key Fluent Bit did not take
//! for itself and that is not ours, so Init fails naming it. Nothing we
//! accept can be refused this way. The guesses:
//!
//! - every key within one edit (a letter dropped, added, changed or two
//!   swapped) of one of ours, ours with `-` for `_` or without `_`, and a
//!   few names other tools use;
//! - every `-p key=value` key of Fluent Bit's command line;
//! - the first word of every line of the configuration file given with
//!   `-c` (classic `key value` and YAML `key: value` lines alike).
//!
//! A key unlike any of ours, set in a file that is `@INCLUDE`d or loaded
//! another way, still goes unseen: no plugin of this interface can see it.

use std::collections::BTreeSet;

use std::time::Duration;

use crate::config::{parse_bool, parse_duration, parse_size, property_keys, Config};
use crate::log::LogLevel;

use super::record::RecordOptions;

/// Properties of the plugin alone (the engine's configuration refuses them).
pub const PLUGIN_KEYS: &[&str] = &["record_image", "record_labels", "batch_max_bytes", "batch_max_time"];

/// Fluent Bit's own input properties: accepted, never flagged.
const FLUENT_BIT_KEYS: &[&str] = &[
    "tag",
    "alias",
    "log_level",
    "log_suppress_interval",
    "mem_buf_limit",
    "routable",
    "storage.type",
    "storage.pause_on_chunks_overlimit",
    "threaded",
];

/// Names of other tools (Vector's `docker_logs`, Fluent Bit's `docker`
/// input, Docker's log options) a user may reach for, and ours for them.
const OTHER_NAMES: &[(&str, &str)] = &[
    ("retry_backoff", "retry_backoff_secs"),
    ("retry_backoff_max", "retry_backoff_max_secs"),
    ("docker_socket", "docker_host"),
    ("unix_path", "docker_host"),
    ("socket", "docker_host"),
    ("include", "include_containers"),
    ("exclude", "exclude_containers"),
    ("include_image", "record_image"),
    ("include_labels_in_record", "record_labels"),
    ("labels", "record_labels"),
    ("image", "record_image"),
    ("rotation", "rotation_interval"),
    ("buffer_max_size", "batch_max_bytes"),
    ("partial_event_marker_field", "auto_partial_merge"),
    ("multiline", "multiline.parser"),
    ("multiline.key_content", "multiline.parser"),
    ("multiline.timeout", "multiline.timeout_ms"),
    ("multiline.flush_ms", "multiline.timeout_ms"),
    ("multiline.flush_timeout", "multiline.timeout_ms"),
    // The name first proposed for it, and OpenShift logging's `maxRecordsPerSecond`.
    ("container_max_lines_per_second", "container_max_records_per_second"),
    ("max_records_per_second", "container_max_records_per_second"),
    ("maxrecordspersecond", "container_max_records_per_second"),
];

/// The default of `batch_max_bytes`.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 4 << 20;
/// The default of `batch_max_time`.
pub const DEFAULT_BATCH_MAX_TIME: Duration = Duration::from_millis(2);

/// What the plugin reads besides the engine's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginOptions {
    pub record: RecordOptions,
    /// The callback stops taking records once its buffer holds this many
    /// bytes; what is left waits for the next call, one second later.
    pub batch_max_bytes: usize,
    /// ...or once it has taken records for this long.
    pub batch_max_time: Duration,
}

/// Why the properties were refused: one sentence naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError(pub String);

/// Reads every property through `get` (a key → value lookup as Fluent
/// Bit's, `Err` when a value is not UTF-8), refuses unknown keys (near
/// ours, or `written` in Fluent Bit's command line or configuration file:
/// see `written_keys`), and builds the configuration. `log_level` is the engine's level, from
/// the instance's own `log_level` (Fluent Bit keeps that key for itself).
pub fn read(
    get: &dyn Fn(&str) -> Result<Option<String>, String>,
    written: &[String],
    log_level: LogLevel,
) -> Result<(Config, PluginOptions), PropertyError> {
    let is_set = |key: &str| get(key).map(|v| v.is_some()).unwrap_or(true);
    if let Some((found, meant)) = find_unknown(&is_set) {
        return Err(PropertyError(format!(
            "Unknown property '{found}' (did you mean '{meant}'?); no property of that name exists."
        )));
    }
    let known = known_keys();
    if let Some(found) = written.iter().find(|key| !known.contains(key.as_str()) && is_set(key)) {
        return Err(PropertyError(format!("Unknown property '{found}'; no property of that name exists.")));
    }

    let mut pairs: Vec<(&str, String)> = Vec::new();
    for key in property_keys().filter(|&k| k != "log_level") {
        if let Some(value) = get(key).map_err(PropertyError)? {
            pairs.push((key, value));
        }
    }
    let config = Config::from_properties(
        pairs.iter().map(|(k, v)| (*k, v.as_str())).chain([("log_level", log_level.name())]),
    )
        .map_err(|e| PropertyError(format!("Invalid property {e}.")))?;

    let flag = |key: &str| -> Result<bool, PropertyError> {
        match get(key).map_err(PropertyError)? {
            None => Ok(false),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                PropertyError(format!("Invalid property {key}: {v:?} is not a boolean (on/off, true/false)."))
            }),
        }
    };
    let record = RecordOptions { image: flag("record_image")?, labels: flag("record_labels")? };
    let batch_max_bytes = match get("batch_max_bytes").map_err(PropertyError)? {
        None => DEFAULT_BATCH_MAX_BYTES,
        Some(v) => match parse_size(&v) {
            Some(n) if n >= 1024 && n <= u32::MAX as u64 => n as usize,
            _ => {
                return Err(PropertyError(format!(
                    "Invalid property batch_max_bytes: {v:?} is not a size from 1KiB to 4GiB (e.g. 4MiB)."
                )))
            }
        },
    };
    let batch_max_time = match get("batch_max_time").map_err(PropertyError)? {
        None => DEFAULT_BATCH_MAX_TIME,
        Some(v) => match parse_duration(&v) {
            Some(d) if d > Duration::ZERO && d <= Duration::from_secs(1) => d,
            _ => {
                return Err(PropertyError(format!(
                    "Invalid property batch_max_time: {v:?} is not a duration from 1us to 1s (e.g. 2ms)."
                )))
            }
        },
    };
    Ok((config, PluginOptions { record, batch_max_bytes, batch_max_time }))
}

/// Every key accepted by the plugin (ours and Fluent Bit's own).
fn known_keys() -> BTreeSet<&'static str> {
    property_keys().chain(PLUGIN_KEYS.iter().copied()).chain(FLUENT_BIT_KEYS.iter().copied()).collect()
}

/// The first likely-mistyped key that `is_set`, with the key it resembles.
pub fn find_unknown(is_set: &dyn Fn(&str) -> bool) -> Option<(String, &'static str)> {
    let known = known_keys();
    let mut probed = BTreeSet::new();
    let mut probe = |candidate: String, meant: &'static str| -> Option<(String, &'static str)> {
        let candidate = candidate.to_ascii_lowercase();
        if candidate.is_empty() || known.contains(candidate.as_str()) || !probed.insert(candidate.clone()) {
            return None;
        }
        is_set(&candidate).then_some((candidate, meant))
    };
    for &(other, ours) in OTHER_NAMES {
        if let Some(hit) = probe(other.to_string(), ours) {
            return Some(hit);
        }
    }
    for key in property_keys().chain(PLUGIN_KEYS.iter().copied()) {
        for candidate in near_misses(key) {
            if let Some(hit) = probe(candidate, key) {
                return Some(hit);
            }
        }
    }
    None
}

/// The keys written in Fluent Bit's command line (`-p key=value`,
/// `--prop=key=value`) and in the first words of the lines of its
/// configuration file (`-c path`, `--config=path`, read with `read_file`),
/// lowercased. Words that are not keys are harmless: only those set on the
/// instance count.
pub fn written_keys(args: &[String], read_file: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut keys = BTreeSet::new();
    let mut add = |word: &str| {
        let word = word.trim().to_ascii_lowercase();
        let is_key = !word.is_empty()
            && word.len() <= 128
            && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if is_key {
            keys.insert(word);
        }
    };
    let option_value = |at: usize, short: &str, long: &str| -> Option<String> {
        let arg = &args[at];
        if arg == short || arg == long {
            return args.get(at + 1).cloned();
        }
        if let Some(rest) = arg.strip_prefix(&format!("{long}=")) {
            return Some(rest.to_string());
        }
        arg.strip_prefix(short).filter(|rest| !rest.is_empty() && !arg.starts_with("--")).map(str::to_string)
    };
    for at in 0..args.len() {
        if let Some(property) = option_value(at, "-p", "--prop") {
            add(property.split('=').next().unwrap_or(""));
        }
        if let Some(text) = option_value(at, "-c", "--config").and_then(|path| read_file(&path)) {
            for line in text.lines() {
                let line = line.trim_start().trim_start_matches("- ");
                add(line.split(|c: char| c.is_whitespace() || c == ':').next().unwrap_or(""));
            }
        }
    }
    keys.into_iter().collect()
}

/// The letters a key is made of, for edits.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-.";

/// Every string one edit away from `key`, and `key` with `-` for `_` or
/// without `_`.
fn near_misses(key: &str) -> Vec<String> {
    let bytes = key.as_bytes();
    let mut out = vec![key.replace('_', "-"), key.replace('_', "")];
    for i in 0..bytes.len() {
        // Deletions.
        let mut v = bytes.to_vec();
        v.remove(i);
        out.push(String::from_utf8(v).unwrap_or_default());
        // Transpositions.
        if i + 1 < bytes.len() {
            let mut v = bytes.to_vec();
            v.swap(i, i + 1);
            out.push(String::from_utf8(v).unwrap_or_default());
        }
        // Substitutions.
        for &c in ALPHABET {
            if c != bytes[i] {
                let mut v = bytes.to_vec();
                v[i] = c;
                out.push(String::from_utf8(v).unwrap_or_default());
            }
        }
    }
    // Insertions.
    for i in 0..=bytes.len() {
        for &c in ALPHABET {
            let mut v = bytes.to_vec();
            v.insert(i, c);
            out.push(String::from_utf8(v).unwrap_or_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A property list looked up as Fluent Bit does: exact, case-insensitive.
    fn lookup(props: &[(&str, &str)]) -> impl Fn(&str) -> Result<Option<String>, String> {
        let map: HashMap<String, String> = props.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect();
        move |key: &str| Ok(map.get(&key.to_ascii_lowercase()).cloned())
    }

    fn read_props(props: &[(&str, &str)]) -> Result<(Config, PluginOptions), PropertyError> {
        read(&lookup(props), &[], LogLevel::Info)
    }

    #[test]
    fn every_engine_key_and_plugin_key_is_read() {
        let (config, options) = read_props(&[
            ("include_containers", "web,api"),
            ("Rotation_Interval", "90s"),
            ("rotation_jitter", "0.25"),
            ("record_image", "on"),
            ("record_labels", "false"),
            ("batch_max_bytes", "1MiB"),
            ("batch_max_time", "10ms"),
            ("tag", "docker.*"),
        ])
        .unwrap();
        assert_eq!(config.filters.include_containers, vec!["web", "api"]);
        assert_eq!(config.rotation_interval, Duration::from_secs(90));
        assert_eq!(config.rotation_jitter, 0.25);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(
            options,
            PluginOptions {
                record: RecordOptions { image: true, labels: false },
                batch_max_bytes: 1 << 20,
                batch_max_time: Duration::from_millis(10),
            }
        );
        let (_, defaults) = read_props(&[]).unwrap();
        assert_eq!(defaults.batch_max_bytes, DEFAULT_BATCH_MAX_BYTES);
        assert_eq!(defaults.batch_max_time, DEFAULT_BATCH_MAX_TIME);
        assert_eq!(defaults.record, RecordOptions::default());
    }

    #[test]
    fn multiline_is_read_from_its_dotted_properties() {
        // The same option as the JSON object.
        let same = |props: &[(&str, &str)], json: &str| {
            let (config, _) = read_props(props).unwrap();
            let want = Config::from_json(&format!(r#"{{"multiline": {json}}}"#)).unwrap();
            assert_eq!(format!("{:?}", config.multiline.unwrap()), format!("{:?}", want.multiline.unwrap()));
        };
        same(&[("Multiline.Parser", "java"), ("multiline.timeout_ms", "2500")], r#"{"parser": "java", "timeout_ms": 2500}"#);
        same(
            &[
                ("multiline.start_pattern", r"^\S"),
                ("multiline.condition_pattern", r"^\s"),
                ("multiline.mode", "continue_through"),
            ],
            r#"{"start_pattern": "^\\S", "condition_pattern": "^\\s", "mode": "continue_through"}"#,
        );
        assert!(read_props(&[]).unwrap().0.multiline.is_none());
        let e = read_props(&[("multiline.parser", "ruby")]).unwrap_err();
        assert!(e.0.starts_with(r#"Invalid property multiline.parser: unknown parser "ruby""#), "{}", e.0);
        let e = read_props(&[("multiline.mode", "halt_with")]).unwrap_err();
        assert!(e.0.contains("`start_pattern`, `condition_pattern` missing"), "{}", e.0);
        for (typo, meant) in [
            ("multiline", "multiline.parser"),
            ("multiline.parsr", "multiline.parser"),
            ("multiline_parser", "multiline.parser"),
            ("multiline.timeout", "multiline.timeout_ms"),
        ] {
            let e = read_props(&[(typo, "java")]).unwrap_err();
            assert!(e.0.contains(&format!("'{typo}' (did you mean '{meant}'?)")), "{typo}: {}", e.0);
        }
    }

    #[test]
    fn near_miss_keys_are_named_with_the_key_meant() {
        for (typo, meant) in [
            ("rotation_intreval", "rotation_interval"),
            ("rotation-interval", "rotation_interval"),
            ("include_container", "include_containers"),
            ("stream", "streams"),
            ("read_timout", "read_timeout"),
            ("Max_Line_Byte", "max_line_bytes"),
            ("retry_backoff", "retry_backoff_secs"),
            ("recordimage", "record_image"),
            ("include_image", "record_image"),
        ] {
            let e = read_props(&[("include_containers", "web"), (typo, "x")]).unwrap_err();
            assert!(e.0.contains(&format!("'{}'", typo.to_ascii_lowercase())), "{typo}: {}", e.0);
            assert!(e.0.contains(&format!("'{meant}'")), "{typo}: {}", e.0);
        }
    }

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn keys_written_on_the_command_line_and_in_the_file_are_found() {
        let file = |path: &str| {
            (path == "fb.conf").then(|| "[INPUT]\n    Name log_capturer\n    Containers web\n# note\n".to_string())
        };
        let written = written_keys(
            &args("fluent-bit -e x.so -i log_capturer -p Include=web -pfoo=1 --prop=bar=2 -o stdout -p format=json -c fb.conf"),
            &file,
        );
        for key in ["include", "foo", "bar", "format", "name", "containers", "[input]"] {
            assert_eq!(written.contains(&key.to_string()), key != "[input]", "{key}: {written:?}");
        }
        let yaml =
            |_: &str| Some("pipeline:\n  inputs:\n    - name: log_capturer\n      containerz: web\n".to_string());
        let written = written_keys(&args("fluent-bit --config=fb.yaml"), &yaml);
        assert!(written.contains(&"containerz".to_string()), "{written:?}");
    }

    #[test]
    fn a_written_key_counts_only_when_set_on_the_instance() {
        let written: Vec<String> = ["format", "containers", "name", "include_containers"].map(String::from).to_vec();
        // `format` belongs to another plugin, `name` was taken by Fluent Bit.
        read(&lookup(&[("include_containers", "web")]), &written, LogLevel::Info).unwrap();
        let e = read(&lookup(&[("containers", "web")]), &written, LogLevel::Info).unwrap_err();
        assert!(e.0.contains("'containers'"), "{}", e.0);
    }

    #[test]
    fn fluent_bit_keys_are_never_flagged() {
        read_props(&[("tag", "t"), ("alias", "a"), ("mem_buf_limit", "5M"), ("threaded", "on")]).unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value) in [
            ("rotation_interval", "soon"),
            ("rotation_jitter", "lots"),
            ("streams", "stdin"),
            ("include_labels", "=x"),
            ("record_image", "maybe"),
            ("batch_max_bytes", "12"),
            ("batch_max_bytes", "huge"),
            ("batch_max_time", "0ms"),
            ("batch_max_time", "1h"),
        ] {
            let e = read_props(&[(key, value)]).unwrap_err();
            assert!(e.0.contains(key), "{key}={value}: {}", e.0);
        }
    }

    #[test]
    fn plugin_keys_are_refused_by_the_engine_config() {
        for key in PLUGIN_KEYS {
            let e = Config::from_properties([(*key, "on")]).unwrap_err();
            assert!(e.0.contains(key), "{e}");
        }
    }

    #[test]
    fn probing_is_cheap_enough_for_init() {
        let started = std::time::Instant::now();
        let calls = std::cell::Cell::new(0usize);
        assert_eq!(
            find_unknown(&|_| {
                calls.set(calls.get() + 1);
                false
            }),
            None
        );
        assert!(calls.get() > 10_000, "{} probes", calls.get());
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
}
