//! The steps the writer of one crash-test cycle takes, in order: WAL-logged
//! batches (some synced), `disable_wal` batches each followed at once by a
//! waited flush, lone flushes and small manual compactions. The plan is a
//! pure function of the run's seed, the cycle and the first operation index
//! (where the previous cycle's recovered history ended), so the harness
//! replays the same plan to learn every batch boundary the writer could
//! have reached.

use std::ops::Range;

use super::history::KEY_SPACE;
use super::rng::{mix, SplitMix64};

const PLAN_SALT: u64 = 0x706c_616e_5f73_7470;

/// One step of the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// One `WriteBatch` of the history's operations `ops`, logged in the
    /// WAL, synced when `sync`.
    Write {
        /// The operations, by history index.
        ops: Range<u64>,
        /// Written with `WriteOptions::sync`.
        sync: bool,
    },
    /// One batch written with `disable_wal`, then a waited flush; the
    /// writes are durable only once the flush returns.
    Unlogged {
        /// The operations, by history index.
        ops: Range<u64>,
    },
    /// A waited flush: every operation before `through` is durable after it.
    Flush {
        /// The history index the flush makes durable up to (exclusive).
        through: u64,
    },
    /// `compact_range` over keys `begin..=end` (by key number).
    Compact {
        /// First key number of the range.
        begin: u32,
        /// Last key number of the range.
        end: u32,
    },
}

impl Step {
    /// The operations the step writes, if it writes any.
    pub fn ops(&self) -> Option<Range<u64>> {
        match self {
            Step::Write { ops, .. } | Step::Unlogged { ops } => Some(ops.clone()),
            Step::Flush { .. } | Step::Compact { .. } => None,
        }
    }
}

/// How one cycle's writer mixes its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Per mille of WAL batches written with `sync`.
    pub sync_permille: u64,
    /// Most operations in one batch.
    pub max_batch: u64,
    /// Per mille of steps that are `disable_wal` batches (with their flush).
    pub unlogged_permille: u64,
    /// Per mille of steps that are lone flushes.
    pub flush_permille: u64,
    /// Per mille of steps that are manual compactions.
    pub compact_permille: u64,
}

/// The infinite sequence of steps of one cycle.
#[derive(Debug, Clone)]
pub struct Plan {
    rng: SplitMix64,
    next_op: u64,
    workload: Workload,
}

impl Plan {
    /// The plan of cycle `cycle` of the run with `seed`, whose first
    /// operation is history index `base`.
    pub fn new(seed: u64, cycle: u64, base: u64) -> Plan {
        let mut rng = SplitMix64::new(mix(mix(seed ^ PLAN_SALT, cycle), base));
        let workload = Workload {
            sync_permille: rng.pick(&[10, 100, 500]),
            max_batch: rng.pick(&[1, 8, 64]),
            unlogged_permille: rng.pick(&[3, 10, 30]),
            flush_permille: 4,
            compact_permille: 2,
        };
        Plan { rng, next_op: base, workload }
    }

    /// How this cycle mixes its steps.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// The history index of the next operation to be written.
    pub fn next_op(&self) -> u64 {
        self.next_op
    }

    fn take_ops(&mut self) -> Range<u64> {
        let count = self.rng.in_range(1, self.workload.max_batch + 1);
        let ops = self.next_op..self.next_op + count;
        self.next_op = ops.end;
        ops
    }
}

impl Iterator for Plan {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let w = self.workload;
        let roll = self.rng.below(1000);
        let step = if roll < w.compact_permille {
            let begin = self.rng.below(u64::from(KEY_SPACE)) as u32;
            let end = (begin + self.rng.below(400) as u32).min(KEY_SPACE - 1);
            Step::Compact { begin, end }
        } else if roll < w.compact_permille + w.flush_permille {
            Step::Flush { through: self.next_op }
        } else if roll < w.compact_permille + w.flush_permille + w.unlogged_permille {
            Step::Unlogged { ops: self.take_ops() }
        } else {
            let sync = self.rng.chance(w.sync_permille);
            Step::Write { ops: self.take_ops(), sync }
        };
        Some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_deterministic_and_contiguous() {
        let steps: Vec<Step> = Plan::new(1, 2, 500).take(5000).collect();
        assert_eq!(steps, Plan::new(1, 2, 500).take(5000).collect::<Vec<_>>());
        assert_ne!(steps, Plan::new(1, 3, 500).take(5000).collect::<Vec<_>>());
        let mut next = 500;
        for step in &steps {
            match step {
                Step::Write { ops, .. } | Step::Unlogged { ops } => {
                    assert_eq!(ops.start, next);
                    assert!(ops.end > ops.start);
                    next = ops.end;
                }
                Step::Flush { through } => assert_eq!(*through, next),
                Step::Compact { begin, end } => assert!(begin <= end && *end < KEY_SPACE),
            }
        }
    }

    #[test]
    fn every_kind_of_step_occurs() {
        let steps: Vec<Step> = Plan::new(8, 0, 0).take(20_000).collect();
        let count = |f: &dyn Fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count();
        assert!(count(&|s| matches!(s, Step::Write { sync: true, .. })) > 0);
        assert!(count(&|s| matches!(s, Step::Write { sync: false, .. })) > 0);
        assert!(count(&|s| matches!(s, Step::Unlogged { .. })) > 0);
        assert!(count(&|s| matches!(s, Step::Flush { .. })) > 0);
        assert!(count(&|s| matches!(s, Step::Compact { .. })) > 0);
    }
}
