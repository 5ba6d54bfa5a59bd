//! Containers known to be gone (destroyed, or a reader found them gone):
//! a container id never comes back, so none of these gets a reader again.
//! Podman still lists a container for a while after its `remove` event (and
//! while an inspect already answers "does not exist in database"), and a
//! renewed event subscription replays its start; a reader started for it
//! then would count it gone a second time, as removed unread. A start
//! stamped after the container was found gone is no replay: the daemon
//! started it again, so the finding was wrong (an answer taken for gone
//! that was not), and it is read. Bounded: the oldest are forgotten first
//! (by then no listing shows them).

use std::collections::{HashMap, VecDeque};

/// How many gone ids are remembered.
const REMEMBERED: usize = 4096;

#[derive(Default)]
pub struct GoneIds {
    /// Each id, and when it was found gone (Unix ns).
    ids: HashMap<String, i64>,
    order: VecDeque<String>,
}

impl GoneIds {
    /// `id` was found gone at `now_ns`.
    pub fn insert(&mut self, id: &str, now_ns: i64) {
        if self.ids.insert(id.to_string(), now_ns).is_some() {
            return;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// A start event stamped `time_ns` for `id` is one from before it was
    /// found gone (a renewed subscription replays those).
    pub fn replays(&self, id: &str, time_ns: i64) -> bool {
        self.ids.get(id).is_some_and(|&found| time_ns <= found)
    }

    /// A start after the finding: `id` is no longer gone.
    pub fn revive(&mut self, id: &str) {
        if self.ids.remove(id).is_some() {
            self.order.retain(|o| o != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_newest_ids_only() {
        let mut gone = GoneIds::default();
        for i in 0..REMEMBERED + 10 {
            gone.insert(&format!("c{i}"), i as i64);
        }
        gone.insert("c20", 0);
        assert!(!gone.contains("c0") && !gone.contains("c9"));
        assert!(gone.contains("c10") && gone.contains(&format!("c{}", REMEMBERED + 9)));
        assert_eq!((gone.ids.len(), gone.order.len()), (REMEMBERED, REMEMBERED));
    }

    #[test]
    fn only_a_start_from_before_the_finding_is_a_replay() {
        let mut gone = GoneIds::default();
        gone.insert("c", 100);
        assert!(gone.replays("c", 99) && gone.replays("c", 100));
        assert!(!gone.replays("c", 101) && !gone.replays("d", 0));
        gone.revive("c");
        assert!(!gone.contains("c") && gone.order.is_empty());
    }
}
