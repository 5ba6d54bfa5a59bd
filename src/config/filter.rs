//! Which containers are read: include and exclude lists of name or id
//! prefixes, labels and image prefixes.

use std::collections::{BTreeMap, HashMap};

/// A label filter: `key` alone matches any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
}

impl LabelFilter {
    /// `key=value` or `key`, as the user writes it.
    pub fn parse(entry: &str) -> Result<LabelFilter, String> {
        match entry.split_once('=') {
            Some((k, _)) if k.is_empty() => Err(format!("{entry:?} has an empty label key")),
            Some((k, v)) => Ok(LabelFilter { key: k.to_string(), value: Some(v.to_string()) }),
            None if entry.is_empty() => Err("an empty label filter".into()),
            None => Ok(LabelFilter { key: entry.to_string(), value: None }),
        }
    }

    fn matches(&self, labels: &dyn LabelLookup) -> bool {
        match (labels.label(&self.key), &self.value) {
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == want,
            (None, _) => false,
        }
    }
}

/// The filters of a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub include_containers: Vec<String>,
    pub exclude_containers: Vec<String>,
    pub include_labels: Vec<LabelFilter>,
    pub exclude_labels: Vec<LabelFilter>,
    pub include_images: Vec<String>,
    pub exclude_images: Vec<String>,
}

/// What is known of a container when a filter is applied. What is not known
/// for sure (`image`, `labels` None: a listing or an event) is not filtered
/// on: the caller must look again once it knows (after inspect).
pub struct Candidate<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub image: Option<&'a str>,
    /// The image's name as Docker would write it, where the engine writes
    /// it longer (Podman's `localhost/`, `docker.io/library/`): image
    /// filters match either.
    pub image_alias: Option<&'a str>,
    pub labels: Option<&'a dyn LabelLookup>,
}

impl Filters {
    /// Includes (any prefix of name or id; every label; any image prefix),
    /// then excludes, which win.
    pub fn wants(&self, c: &Candidate<'_>) -> bool {
        let names_match =
            |list: &[String]| list.iter().any(|p| c.name.starts_with(p.as_str()) || c.id.starts_with(p.as_str()));
        let image_match = |list: &[String]| {
            let names = c.image.into_iter().chain(c.image_alias);
            names.into_iter().any(|image| list.iter().any(|p| image.starts_with(p.as_str())))
        };
        if !self.include_containers.is_empty() && !names_match(&self.include_containers) {
            return false;
        }
        if c.image.is_some() && !self.include_images.is_empty() && !image_match(&self.include_images) {
            return false;
        }
        if let Some(labels) = c.labels {
            if !self.include_labels.iter().all(|f| f.matches(labels)) {
                return false;
            }
            if self.exclude_labels.iter().any(|f| f.matches(labels)) {
                return false;
            }
        }
        !(names_match(&self.exclude_containers) || image_match(&self.exclude_images))
    }
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

impl LabelLookup for HashMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn filters_include_exclude_and_labels() {
        let labels: BTreeMap<String, String> = [("team".to_string(), "blue".to_string())].into();
        let c = Candidate {
            id: "abcdef123456",
            name: "web-1",
            image: Some("test"),
            image_alias: None,
            labels: Some(&labels),
        };
        let wants = |doc: &str| Config::from_json(doc).unwrap().filters.wants(&c);
        assert!(wants("{}"));
        assert!(wants(r#"{"include_containers": ["web"]}"#));
        assert!(wants(r#"{"include_containers": ["abc"]}"#));
        assert!(!wants(r#"{"include_containers": ["api"]}"#));
        assert!(!wants(r#"{"include_containers": ["web"], "exclude_containers": ["web-1"]}"#));
        assert!(wants(r#"{"include_labels": ["team=blue"]}"#));
        assert!(wants(r#"{"include_labels": ["team"]}"#));
        assert!(!wants(r#"{"include_labels": ["team=red"]}"#));
        assert!(!wants(r#"{"exclude_labels": ["team"]}"#));
        assert!(wants(r#"{"include_images": ["te"]}"#));
        assert!(!wants(r#"{"exclude_images": ["test"]}"#));
    }

    #[test]
    fn image_filters_match_a_local_image_with_or_without_its_prefix() {
        let image = "localhost/log-capturer-test/busybox:latest";
        let c =
            Candidate { id: "abc", name: "web-1", image: Some(image), image_alias: Some(&image[10..]), labels: None };
        let wants = |doc: &str| Config::from_json(doc).unwrap().filters.wants(&c);
        assert!(wants(r#"{"include_images": ["log-capturer-test/busybox"]}"#));
        assert!(wants(r#"{"include_images": ["localhost/log-capturer-test"]}"#));
        assert!(!wants(r#"{"include_images": ["busybox"]}"#));
        assert!(!wants(r#"{"exclude_images": ["log-capturer-test/"]}"#));
    }
}
