//! One container's entry in the position file: a mark per stream, and how
//! acknowledged records move it.

use serde::{Deserialize, Serialize};

use crate::frame::Stream;
use crate::position::{Position, Watermark, INVERSION_BOUND_NS};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Mark {
    pub ts: i64,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    #[serde(default)]
    pub name: String,
    stdout: Mark,
    stderr: Mark,
    console: Mark,
}

impl Entry {
    /// A container's first entry: nothing passed yet.
    pub fn named(name: &str) -> Entry {
        Entry { name: name.to_string(), ..Entry::default() }
    }

    fn marks(&self) -> [Mark; 3] {
        [self.stdout, self.stderr, self.console]
    }

    fn set(&mut self, i: usize, m: Mark) {
        match i {
            0 => self.stdout = m,
            1 => self.stderr = m,
            _ => self.console = m,
        }
    }

    /// Moves the marks past the newest acknowledged record of each stream;
    /// the other streams follow up to what the reader has `passed`.
    pub fn advance(&mut self, newest: &[Option<Mark>; 3], passed: Option<&Position>) {
        for (i, m) in newest.iter().enumerate() {
            let Some(m) = *m else { continue };
            if later(m, self.marks()[i]) {
                self.set(i, m);
            }
            let Some(pos) = passed else {
                continue;
            };
            for other in Stream::ALL.iter().map(|s| s.index()).filter(|&j| j != i) {
                let floor = Mark { ts: m.ts - INVERSION_BOUND_NS, count: 0 };
                let reached = Mark { ts: pos.marks[other].ts_ns, count: pos.marks[other].count };
                let lift = if later(reached, floor) { floor } else { reached };
                if later(lift, self.marks()[other]) {
                    self.set(other, lift);
                }
            }
        }
    }

    pub fn position(&self) -> Position {
        let mut p = Position::starting_at(0);
        for (i, m) in self.marks().iter().enumerate() {
            p.marks[i] = Watermark { ts_ns: m.ts, count: m.count };
        }
        p
    }
}

pub fn later(a: Mark, b: Mark) -> bool {
    (a.ts, a.count) > (b.ts, b.count)
}
