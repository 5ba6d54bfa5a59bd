//! What the host receives: log records, and the identity of the container
//! each one came from.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::Arc;

use bytes::Bytes;

use crate::frame::Stream;
use crate::position::Watermark;

/// Flags on a delivered record.
pub mod flags {
    /// The line is one piece of a longer one (merging off), or the daemon
    /// never sent its end (the container stopped mid-line).
    pub const PARTIAL: u32 = 1;
    /// The line was longer than `max_line_bytes` and was cut there.
    pub const TRUNCATED: u32 = 2;
}

/// One log record as the host receives it.
#[derive(Debug, Clone)]
pub struct Record {
    pub container: Arc<ContainerMeta>,
    pub stream: Stream,
    /// Docker's timestamp of the record (of its first line, when multiline
    /// grouping joined several): what the host shows.
    pub ts_ns: i64,
    /// The stream's watermark once this record is passed: its last line's
    /// stamp and count (see `position::Watermark`). Checkpoints advance to
    /// it, so they pass only whole records.
    pub mark: Watermark,
    pub flags: u32,
    pub message: Bytes,
}

/// A container's identity, as records and stats show it. Immutable; shared
/// by `Arc` with every record, so a batch keeps it alive on its own. The
/// strings are C strings because the C ABI hands out pointers into them.
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
    /// The size at which the daemon starts the next file (`max-size`;
    /// `local`'s default when unset), when it rotates; 0 when unknown.
    pub log_max_size: u64,
}

/// A C string of `s`. Docker ids, names and image names hold no NUL; any is
/// dropped rather than failing.
pub fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl ContainerMeta {
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
            log_max_size: 0,
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
        short_id(self.id_str())
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

/// The first 12 characters of a container id, as `docker ps` shows it.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}
