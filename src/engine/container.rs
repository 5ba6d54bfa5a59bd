//! What the capturer knows of one container, shared by its records.

use std::collections::BTreeMap;
use std::ffi::CString;

use crate::config::{Config, LabelFilter};
use crate::docker::ContainerInspect;

/// A container's identity, as records and stats show it. Immutable; shared
/// by `Arc` with every record, so a batch keeps it alive on its own.
#[derive(Debug)]
pub struct ContainerMeta {
    pub id: CString,
    pub name: CString,
    pub image: CString,
    pub labels: BTreeMap<String, String>,
    pub created_ns: i64,
    pub tty: bool,
    pub log_driver: String,
    /// The daemon rotates the log into a bounded set of files and deletes
    /// the oldest (`local`; `json-file` with `max-size`).
    pub log_rotates: bool,
}

fn c_string(s: &str) -> CString {
    // Docker ids, names and image names hold no NUL; drop any rather than fail.
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl ContainerMeta {
    pub fn from_inspect(inspect: &ContainerInspect) -> ContainerMeta {
        let created_ns = crate::timestamp::parse_rfc3339(inspect.created.as_bytes()).unwrap_or(0);
        let log_config = inspect.host_config.as_ref().and_then(|h| h.log_config.as_ref());
        let log_rotates = log_config.is_some_and(|l| {
            l.kind == "local"
                || (l.kind == "json-file" && l.config.as_ref().is_some_and(|c| c.contains_key("max-size")))
        });
        ContainerMeta {
            id: c_string(&inspect.id),
            name: c_string(inspect.name.trim_start_matches('/')),
            image: c_string(&inspect.config.image),
            labels: inspect.config.labels.clone().unwrap_or_default().into_iter().collect(),
            created_ns,
            tty: inspect.config.tty,
            log_driver: log_config.map(|l| l.kind.clone()).unwrap_or_default(),
            log_rotates,
        }
    }

    #[cfg(test)]
    pub fn for_tests(id: &str, name: &str) -> ContainerMeta {
        ContainerMeta {
            id: c_string(id),
            name: c_string(name),
            image: c_string("test"),
            labels: BTreeMap::new(),
            created_ns: 0,
            tty: false,
            log_driver: "json-file".into(),
            log_rotates: false,
        }
    }

    pub fn id_str(&self) -> &str {
        self.id.to_str().unwrap_or("")
    }

    pub fn name_str(&self) -> &str {
        self.name.to_str().unwrap_or("")
    }

    pub fn image_str(&self) -> &str {
        self.image.to_str().unwrap_or("")
    }

    /// The id as `docker ps` shows it.
    pub fn short_id(&self) -> &str {
        let id = self.id_str();
        &id[..id.len().min(12)]
    }

    /// Applies the configured filters: includes (any prefix of name or id;
    /// every label; any image prefix), then excludes, which win.
    pub fn is_wanted(&self, config: &Config) -> bool {
        wanted(config, self.id_str(), self.name_str(), Some(self.image_str()), Some(&self.labels))
    }

    /// The container as JSON: id, name, image, labels, creation time.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id_str(),
            "name": self.name_str(),
            "image": self.image_str(),
            "labels": self.labels,
            "created": crate::timestamp::format_rfc3339(self.created_ns),
            "tty": self.tty,
            "log_driver": self.log_driver,
        })
    }
}

/// The filters on what a listing or an event tells of a container. What
/// is not known for sure (`image`, `labels` None) is not filtered on: the
/// caller must look again once it knows.
pub fn wanted(config: &Config, id: &str, name: &str, image: Option<&str>, labels: Option<&dyn LabelLookup>) -> bool {
    let names_match = |list: &[String]| list.iter().any(|p| name.starts_with(p.as_str()) || id.starts_with(p.as_str()));
    let image_match = |list: &[String]| image.is_some_and(|image| list.iter().any(|p| image.starts_with(p.as_str())));
    let label_match = |labels: &dyn LabelLookup, f: &LabelFilter| match (labels.label(&f.key), &f.value) {
        (Some(_), None) => true,
        (Some(v), Some(want)) => v == want,
        (None, _) => false,
    };
    if !config.include_containers.is_empty() && !names_match(&config.include_containers) {
        return false;
    }
    if image.is_some() && !config.include_images.is_empty() && !image_match(&config.include_images) {
        return false;
    }
    if let Some(labels) = labels {
        if !config.include_labels.iter().all(|f| label_match(labels, f)) {
            return false;
        }
        if config.exclude_labels.iter().any(|f| label_match(labels, f)) {
            return false;
        }
    }
    !(names_match(&config.exclude_containers) || image_match(&config.exclude_images))
}

/// A container's labels, however they are kept.
pub trait LabelLookup {
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelLookup for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl LabelLookup for std::collections::HashMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_include_exclude_and_labels() {
        let mut meta = ContainerMeta::for_tests("abcdef123456", "web-1");
        meta.labels.insert("team".into(), "blue".into());
        let cfg = |doc: &str| Config::from_json(doc).unwrap();
        assert!(meta.is_wanted(&cfg("{}")));
        assert!(meta.is_wanted(&cfg(r#"{"include_containers": ["web"]}"#)));
        assert!(meta.is_wanted(&cfg(r#"{"include_containers": ["abc"]}"#)));
        assert!(!meta.is_wanted(&cfg(r#"{"include_containers": ["api"]}"#)));
        assert!(!meta.is_wanted(&cfg(r#"{"include_containers": ["web"], "exclude_containers": ["web-1"]}"#)));
        assert!(meta.is_wanted(&cfg(r#"{"include_labels": ["team=blue"]}"#)));
        assert!(meta.is_wanted(&cfg(r#"{"include_labels": ["team"]}"#)));
        assert!(!meta.is_wanted(&cfg(r#"{"include_labels": ["team=red"]}"#)));
        assert!(!meta.is_wanted(&cfg(r#"{"exclude_labels": ["team"]}"#)));
        assert!(meta.is_wanted(&cfg(r#"{"include_images": ["te"]}"#)));
        assert!(!meta.is_wanted(&cfg(r#"{"exclude_images": ["test"]}"#)));
    }
}
