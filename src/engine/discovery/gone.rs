//! Containers known to be gone (destroyed, or a reader found them gone):
//! a container id never comes back, so none of these gets a reader again.
//! Podman still lists a container for a while after its `remove` event (and
//! while an inspect already answers "does not exist in database"), and a
//! renewed event subscription replays its start; a reader started for it
//! then would count it gone a second time, as removed unread. Bounded: the oldest are forgotten first (by then no
//! listing shows them).

use std::collections::{HashSet, VecDeque};

/// How many gone ids are remembered.
const REMEMBERED: usize = 4096;

#[derive(Default)]
pub struct GoneIds {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl GoneIds {
    pub fn insert(&mut self, id: &str) {
        if !self.ids.insert(id.to_string()) {
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
        self.ids.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_newest_ids_only() {
        let mut gone = GoneIds::default();
        for i in 0..REMEMBERED + 10 {
            gone.insert(&format!("c{i}"));
        }
        gone.insert("c20");
        assert!(!gone.contains("c0") && !gone.contains("c9"));
        assert!(gone.contains("c10") && gone.contains(&format!("c{}", REMEMBERED + 9)));
        assert_eq!((gone.ids.len(), gone.order.len()), (REMEMBERED, REMEMBERED));
    }
}
