//! The containers this capture knows: each followed one with its identity,
//! counters and progress; and those the filters left out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::metrics::Metrics;
use super::progress::Progress;
use super::stats::ContainerStats;
use crate::position::Position;
use crate::record::ContainerMeta;

/// A container with a reader (now or before): shared by the reader, which
/// writes its progress and counters, and everything that reads them.
pub struct Tracked {
    pub meta: Arc<ContainerMeta>,
    pub stats: ContainerStats,
    pub progress: Progress,
}

#[derive(Default)]
pub struct Registry {
    containers: Mutex<BTreeMap<String, Arc<Tracked>>>,
    /// Containers the filters left out: id → name.
    excluded: Mutex<BTreeMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// The container's entry, made (at `position`) if it is new.
    pub fn track(&self, meta: &Arc<ContainerMeta>, position: &Position, metrics: &Arc<Metrics>) -> Arc<Tracked> {
        lock(&self.containers)
            .entry(meta.id_str().to_string())
            .or_insert_with(|| {
                Arc::new(Tracked {
                    meta: meta.clone(),
                    stats: ContainerStats::new(metrics.clone()),
                    progress: Progress::new(position),
                })
            })
            .clone()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Tracked>> {
        lock(&self.containers).get(id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Tracked>> {
        lock(&self.containers).values().cloned().collect()
    }

    /// By full id, an id prefix of 12 or more characters, or name.
    pub fn find(&self, id_or_name: &str) -> Option<Arc<Tracked>> {
        let map = lock(&self.containers);
        map.get(id_or_name).cloned().or_else(|| {
            map.values()
                .find(|c| {
                    c.meta.name_str() == id_or_name
                        || (id_or_name.len() >= 12 && c.meta.id_str().starts_with(id_or_name))
                })
                .cloned()
        })
    }

    /// Forgets a container (destroyed): its entry, or its exclusion.
    pub fn forget(&self, id: &str) {
        lock(&self.containers).remove(id);
        lock(&self.excluded).remove(id);
    }

    pub fn exclude(&self, id: &str, name: &str) {
        lock(&self.excluded).insert(id.to_string(), name.to_string());
    }

    /// The names of the containers the filters left out, sorted.
    pub fn excluded_names(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.excluded).values().cloned().collect();
        names.sort();
        names
    }
}
