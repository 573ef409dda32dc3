//! The crash test's checks. After a kill the recovered database must equal
//! the write history cut at one batch boundary — no holes, no resurrected
//! deletes or overwritten values — that is at least as far as every write
//! the writer saw acknowledged (synced ones by the sync promise, unsynced
//! ones because a killed process loses nothing the OS already has) and at
//! most one batch past the last acknowledged one (the batch in flight).
//! Counters (merged keys, see `history`) are checked the same way: each
//! must hold the sum its merges give at that one cut. A range deletion
//! changes every key of its range in the model, so a lost one (its keys
//! still hold their values), a partly lost or resurrected one (some of
//! them come back), or one applied to later writes shows up as keys that
//! no cut gives.

use std::fmt::Write as _;

use lsmkit::{Db, ReadOptions};

use super::history::{
    counter_put_value, describe_counter, describe_value, is_counter, key_bytes, merge_operand, op, parse_key,
    value_bytes, OpKind, KEY_SPACE, PLAIN_KEYS,
};
use super::plan::{Plan, Step};
use super::side_file::Record;

/// The history's state after some prefix: for every key, what it holds,
/// or `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    entries: Vec<Option<Entry>>,
}

/// What a key holds in a [`Model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// A plain key: the put that set it last (history index and the
    /// cycle that wrote it).
    Put(u64, u64),
    /// A counter's value.
    Counter(u64),
}

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

impl Model {
    /// The empty history: no key is set.
    pub fn new() -> Model {
        Model { entries: vec![None; KEY_SPACE as usize] }
    }

    /// Applies operation `index` of the history as cycle `cycle` wrote it;
    /// returns the key numbers it changed (one key; every key of the range
    /// of a range deletion).
    pub fn apply(&mut self, seed: u64, index: u64, cycle: u64) -> std::ops::Range<u32> {
        let op = op(seed, index);
        let value = match op.kind {
            OpKind::DeleteRange { end, .. } => {
                self.entries[op.key as usize..end as usize].fill(None);
                return op.key..end;
            }
            OpKind::Put if is_counter(op.key) => Some(Entry::Counter(counter_put_value(seed, index))),
            OpKind::Put => Some(Entry::Put(index, cycle)),
            OpKind::Delete => None,
            OpKind::Merge => {
                let below = match self.entries[op.key as usize] {
                    Some(Entry::Counter(value)) => value,
                    // Merges go to counters only: a counter holds nothing or a counter value
                    // (nothing after a delete or a range deletion: the sum starts again).
                    Some(Entry::Put(..)) | None => 0,
                };
                Some(Entry::Counter(below.wrapping_add(merge_operand(seed, index))))
            }
        };
        self.entries[op.key as usize] = value;
        op.key..op.key + 1
    }

    /// Number of keys in `keys` that are set.
    pub fn live_in(&self, keys: std::ops::Range<u32>) -> usize {
        self.entries[keys.start as usize..keys.end as usize].iter().filter(|e| e.is_some()).count()
    }

    /// The value key `key` has in this state.
    pub fn value(&self, seed: u64, key: u32) -> Option<Vec<u8>> {
        self.entries[key as usize].map(|entry| match entry {
            Entry::Put(index, cycle) => value_bytes(seed, index, cycle),
            Entry::Counter(value) => value.to_le_bytes().to_vec(),
        })
    }

    /// Number of keys that are set.
    pub fn live_keys(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }
}

/// What the range deletions among operations `ops` did, replayed from
/// `model` (the state before `ops.start`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeDeletionStats {
    /// Range deletions.
    pub range_deletions: u64,
    /// Keys that held a value when a range deletion deleted them.
    pub keys_deleted: u64,
    /// Of those, counters.
    pub counters_deleted: u64,
}

impl RangeDeletionStats {
    /// The stats of operations `ops`, replayed from `model`.
    pub fn of(seed: u64, model: &Model, ops: std::ops::Range<u64>) -> RangeDeletionStats {
        let mut model = model.clone();
        let mut stats = RangeDeletionStats::default();
        for index in ops {
            let o = op(seed, index);
            if let OpKind::DeleteRange { end, .. } = o.kind {
                stats.range_deletions += 1;
                stats.keys_deleted += model.live_in(o.key..end) as u64;
                stats.counters_deleted += model.live_in(o.key.max(PLAIN_KEYS)..end.max(PLAIN_KEYS)) as u64;
            }
            // The cycle only tags put values; it does not change which keys are live.
            model.apply(seed, index, 0);
        }
        stats
    }
}

/// What a database holds: a value (or nothing) for every key of the key
/// space, plus any entry whose key is not one of the history's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    values: Vec<Option<Vec<u8>>>,
    foreign: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Contents {
    /// The contents a database holds when it equals `model`.
    pub fn of_model(seed: u64, model: &Model) -> Contents {
        Contents { values: (0..KEY_SPACE).map(|k| model.value(seed, k)).collect(), foreign: Vec::new() }
    }

    /// Sets key `key` to `value` (`None`: absent).
    pub fn set(&mut self, key: u32, value: Option<Vec<u8>>) {
        self.values[key as usize] = value;
    }

    /// Adds an entry whose key is not one of the history's.
    pub fn add_foreign(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.foreign.push((key, value));
    }

    /// Reads all of `db`: a forward scan, a backward scan that must list the
    /// same entries, a seek to every key (and a step back from it) and a
    /// point `get` of every key that must agree with them.
    pub fn read(db: &Db) -> Result<Contents, String> {
        let mut forward = Vec::new();
        let mut it = db.iter(ReadOptions::new());
        it.seek_to_first();
        while it.valid() {
            forward.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        it.status().map_err(|e| format!("forward scan failed: {e}"))?;
        let mut backward = Vec::new();
        let mut it = db.iter(ReadOptions::new());
        it.seek_to_last();
        while it.valid() {
            backward.push((it.key().to_vec(), it.value().to_vec()));
            it.prev();
        }
        it.status().map_err(|e| format!("backward scan failed: {e}"))?;
        backward.reverse();
        if forward != backward {
            return Err(format!(
                "forward scan ({} entries) and backward scan ({} entries) differ",
                forward.len(),
                backward.len()
            ));
        }
        check_seeks(db, &forward)?;
        let mut contents = Contents { values: vec![None; KEY_SPACE as usize], foreign: Vec::new() };
        for (key, value) in forward {
            match parse_key(&key) {
                Some(k) => contents.values[k as usize] = Some(value),
                None => contents.foreign.push((key, value)),
            }
        }
        for k in 0..KEY_SPACE {
            let got = db.get(&key_bytes(k)).map_err(|e| format!("get of key {k} failed: {e}"))?;
            if got.as_deref() != contents.values[k as usize].as_deref() {
                return Err(format!(
                    "get and scan disagree on key {k}: get finds {}, the scan {}",
                    describe(k, got.as_deref()),
                    describe(k, contents.values[k as usize].as_deref())
                ));
            }
        }
        Ok(contents)
    }
}

/// Seeks one iterator to every key of the key space (so into and across
/// the ranges range deletions emptied) and steps back from where each seek
/// lands: each must agree with the forward scan `entries`.
fn check_seeks(db: &Db, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
    let key_at = |i: usize| entries.get(i).map(|(key, _)| String::from_utf8_lossy(key).into_owned());
    let mut it = db.iter(ReadOptions::new());
    for k in 0..KEY_SPACE {
        let target = key_bytes(k);
        it.seek(&target);
        let at = entries.partition_point(|(key, _)| *key < target);
        let found = it.valid().then(|| String::from_utf8_lossy(it.key()).into_owned());
        if found != key_at(at) {
            return Err(format!("a seek to key {k} lands on {found:?}, the scan says {:?}", key_at(at)));
        }
        if it.valid() && it.value() != entries[at].1.as_slice() {
            return Err(format!("a seek to key {k} finds another value than the scan"));
        }
        if it.valid() {
            it.prev();
            let found = it.valid().then(|| String::from_utf8_lossy(it.key()).into_owned());
            let expected = at.checked_sub(1).and_then(key_at);
            if found != expected {
                return Err(format!(
                    "a step back from a seek to key {k} lands on {found:?}, the scan says {expected:?}"
                ));
            }
        }
    }
    it.status().map_err(|e| format!("seeks failed: {e}"))
}

/// For messages: what key number `key` holds.
fn describe(key: u32, value: Option<&[u8]>) -> String {
    match value {
        None => "nothing".to_string(),
        Some(value) if is_counter(key) => describe_counter(value),
        Some(value) => describe_value(value),
    }
}

/// A model being advanced through the history, with the set of keys on
/// which it differs from the database's contents.
struct Comparison<'a> {
    seed: u64,
    model: Model,
    actual: &'a Contents,
    differs: Vec<bool>,
    differing: usize,
}

impl<'a> Comparison<'a> {
    fn new(seed: u64, model: Model, actual: &'a Contents) -> Comparison<'a> {
        let mut c =
            Comparison { seed, model, actual, differs: vec![false; KEY_SPACE as usize], differing: 0 };
        for k in 0..KEY_SPACE {
            c.recheck(k);
        }
        c
    }

    fn recheck(&mut self, key: u32) {
        let differs =
            self.model.value(self.seed, key).as_deref() != self.actual.values[key as usize].as_deref();
        let slot = &mut self.differs[key as usize];
        match (*slot, differs) {
            (false, true) => self.differing += 1,
            (true, false) => self.differing -= 1,
            _ => {}
        }
        *slot = differs;
    }

    fn apply(&mut self, index: u64, cycle: u64) {
        for key in self.model.apply(self.seed, index, cycle) {
            self.recheck(key);
        }
    }

    fn matches(&self) -> bool {
        self.differing == 0 && self.actual.foreign.is_empty()
    }

    /// Up to `limit` differences, for a failure message.
    fn differences(&self, limit: usize) -> String {
        let mut out = String::new();
        for (key, value) in self.actual.foreign.iter().take(limit) {
            let _ = writeln!(
                out,
                "    foreign key {:?} = {}",
                String::from_utf8_lossy(key),
                describe_value(value)
            );
        }
        for k in (0..KEY_SPACE).filter(|&k| self.differs[k as usize]).take(limit) {
            let _ = writeln!(
                out,
                "    key {k}: history has {}, database has {}",
                describe(k, self.model.value(self.seed, k).as_deref()),
                describe(k, self.actual.values[k as usize].as_deref())
            );
        }
        out
    }
}

/// What a successful check established about one cycle.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The recovered database is the history before this index.
    pub cut: u64,
    /// The history's state at `cut` (equal to the database).
    pub model: Model,
    /// The writer's `Db::open` returned before the kill.
    pub opened: bool,
    /// Every operation before this one was acknowledged durable (synced
    /// write or completed flush).
    pub synced_mark: u64,
    /// Every operation before this one was acknowledged (logged writes,
    /// synced or not, and flushed unlogged ones).
    pub acked_mark: u64,
    /// Side-file records that promised durability (synced writes, flushes).
    pub durable_acks: u64,
    /// Acknowledged batches (logged and unlogged).
    pub acked_batches: u64,
    /// The cut includes the batch that was in flight at the kill.
    pub in_flight_applied: bool,
    /// What the range deletions in the verified operations `base..cut` did.
    pub range_deletions: RangeDeletionStats,
}

/// Checks the database `actual` recovered after cycle `cycle` was killed.
/// `start` is the history's state at `base`, where the cycle began;
/// `records` is the cycle's side file.
pub fn check_cycle(
    seed: u64,
    cycle: u64,
    base: u64,
    start: &Model,
    records: &[Record],
    actual: &Contents,
) -> Result<Verdict, String> {
    let mut records = records.iter().peekable();
    match records.next() {
        None => {}
        Some(Record::Begin { cycle: c, base: b }) if (*c, *b) == (cycle, base) => {}
        Some(other) => {
            return Err(format!(
                "side file starts with {other:?}, expected Begin {{ cycle: {cycle}, base: {base} }}"
            ))
        }
    }
    let opened = records.next_if_eq(&&Record::Opened).is_some();
    let mut comparison = Comparison::new(seed, start.clone(), actual);
    let mut matching: Vec<(u64, Model)> = Vec::new();
    if comparison.matches() {
        matching.push((base, comparison.model.clone()));
    }
    let mut best_miss = (comparison.differing, base);
    let mut synced_mark = base;
    let mut acked_mark = base;
    let mut durable_acks = 0;
    let mut acked_batches = 0;
    let mut last_boundary = base;
    let mut apply =
        |comparison: &mut Comparison, ops: std::ops::Range<u64>, matching: &mut Vec<(u64, Model)>| {
            for index in ops.clone() {
                comparison.apply(index, cycle);
            }
            if comparison.matches() {
                matching.push((ops.end, comparison.model.clone()));
            } else if comparison.differing < best_miss.0 {
                best_miss = (comparison.differing, ops.end);
            }
            last_boundary = ops.end;
        };
    let disagree = |step: &Step, record: &Record| {
        format!("side file disagrees with the plan: step {step:?}, record {record:?} (writer and harness out of step?)")
    };
    if opened {
        for step in Plan::new(seed, cycle, base) {
            match &step {
                Step::Write { ops, sync } => {
                    let record = records.next();
                    apply(&mut comparison, ops.clone(), &mut matching);
                    match record {
                        None => break,
                        Some(Record::Write { start, end, synced })
                            if (*start, *end, *synced) == (ops.start, ops.end, *sync) =>
                        {
                            acked_batches += 1;
                            acked_mark = ops.end;
                            if *sync {
                                synced_mark = ops.end;
                                durable_acks += 1;
                            }
                        }
                        Some(other) => return Err(disagree(&step, other)),
                    }
                }
                Step::Unlogged { ops } => {
                    let record = records.next();
                    apply(&mut comparison, ops.clone(), &mut matching);
                    match record {
                        None => break,
                        Some(Record::Unlogged { start, end }) if (*start, *end) == (ops.start, ops.end) => {
                            acked_batches += 1;
                        }
                        Some(other) => return Err(disagree(&step, other)),
                    }
                    match records.next() {
                        None => break,
                        Some(Record::Flushed { through }) if *through == ops.end => {
                            acked_mark = ops.end;
                            synced_mark = ops.end;
                            durable_acks += 1;
                        }
                        Some(other) => return Err(disagree(&step, other)),
                    }
                }
                Step::Flush { through } => match records.next() {
                    None => break,
                    Some(Record::Flushed { through: t }) if t == through => {
                        synced_mark = *through;
                        acked_mark = acked_mark.max(*through);
                        durable_acks += 1;
                    }
                    Some(other) => return Err(disagree(&step, other)),
                },
                Step::Compact { .. } => match records.next() {
                    None => break,
                    Some(Record::Compacted) => {}
                    Some(other) => return Err(disagree(&step, other)),
                },
            }
        }
    }
    if let Some(extra) = records.next() {
        return Err(format!(
            "side file has a record after the end of the plan's acknowledged steps: {extra:?}"
        ));
    }
    let Some((cut, model)) = matching.pop() else {
        // Show the differences at the closest boundary.
        let mut closest = Comparison::new(seed, start.clone(), actual);
        for index in base..best_miss.1 {
            closest.apply(index, cycle);
        }
        return Err(format!(
            "the recovered database is not the write history cut at any batch boundary in {base}..={last_boundary} \
             (synced through {synced_mark}, acknowledged through {acked_mark}); closest is the cut at {} with {} \
             differing keys and {} foreign entries:\n{}",
            best_miss.1,
            closest.differing,
            actual.foreign.len(),
            closest.differences(10)
        ));
    };
    if cut < synced_mark {
        return Err(format!(
            "lost synced writes: the recovered database is the history cut at op {cut}, but every op before \
             {synced_mark} was acknowledged durable (synced write or completed flush)"
        ));
    }
    if cut < acked_mark {
        return Err(format!(
            "lost acknowledged writes: the recovered database is the history cut at op {cut}, but ops up to \
             {acked_mark} were acknowledged, and a killed process must not lose writes the OS already has"
        ));
    }
    Ok(Verdict {
        cut,
        model,
        opened,
        synced_mark,
        acked_mark,
        durable_acks,
        acked_batches,
        in_flight_applied: cut > acked_mark,
        range_deletions: RangeDeletionStats::of(seed, start, base..cut),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::history::range_deletions_in;

    const SEED: u64 = 11;
    const CYCLE: u64 = 2;
    const BASE: u64 = 1000;

    /// The state at `BASE`, as an earlier cycle (1) wrote it.
    fn start() -> Model {
        let mut model = Model::new();
        for index in 0..BASE {
            model.apply(SEED, index, 1);
        }
        model
    }

    /// The state after this cycle's ops `BASE..cut`.
    fn model_at(cut: u64) -> Model {
        let mut model = start();
        for index in BASE..cut {
            model.apply(SEED, index, CYCLE);
        }
        model
    }

    fn contents_at(cut: u64) -> Contents {
        Contents::of_model(SEED, &model_at(cut))
    }

    /// The side file of a writer that completed `steps` steps, and the plan's steps.
    fn side_file(steps: usize) -> (Vec<Record>, Vec<Step>) {
        let plan: Vec<Step> = Plan::new(SEED, CYCLE, BASE).take(steps + 3).collect();
        let mut records = vec![Record::Begin { cycle: CYCLE, base: BASE }, Record::Opened];
        for step in &plan[..steps] {
            match step {
                Step::Write { ops, sync } => {
                    records.push(Record::Write { start: ops.start, end: ops.end, synced: *sync })
                }
                Step::Unlogged { ops } => {
                    records.push(Record::Unlogged { start: ops.start, end: ops.end });
                    records.push(Record::Flushed { through: ops.end });
                }
                Step::Flush { through } => records.push(Record::Flushed { through: *through }),
                Step::Compact { .. } => records.push(Record::Compacted),
            }
        }
        (records, plan)
    }

    /// Where the writer stood after `steps` steps.
    fn next_op_after(plan: &[Step], steps: usize) -> u64 {
        plan[..steps].iter().rev().find_map(Step::ops).map_or(BASE, |r| r.end)
    }

    /// The first number of completed steps after which the next step satisfies `want`.
    fn steps_before(want: impl Fn(&Step) -> bool) -> usize {
        let plan: Vec<Step> = Plan::new(SEED, CYCLE, BASE).take(5000).collect();
        (20..plan.len()).find(|&n| want(&plan[n])).expect("the plan has such a step")
    }

    fn check(records: &[Record], actual: &Contents) -> Result<Verdict, String> {
        check_cycle(SEED, CYCLE, BASE, &start(), records, actual)
    }

    #[test]
    fn accepts_the_state_at_the_last_acknowledged_write() {
        let (records, plan) = side_file(200);
        let acked = next_op_after(&plan, 200);
        let verdict = check(&records, &contents_at(acked)).unwrap();
        assert_eq!(verdict.cut, acked);
        assert_eq!(verdict.acked_mark, acked);
        assert!(verdict.opened && !verdict.in_flight_applied);
        assert_eq!(verdict.model, model_at(acked));
    }

    #[test]
    fn accepts_the_batch_in_flight_but_nothing_after_it() {
        let n = steps_before(|s| matches!(s, Step::Write { .. }));
        let (records, plan) = side_file(n);
        let in_flight = plan[n].ops().unwrap();
        let verdict = check(&records, &contents_at(in_flight.end)).unwrap();
        assert_eq!(verdict.cut, in_flight.end);
        assert!(verdict.in_flight_applied);
        let beyond = plan[n + 1..].iter().find_map(Step::ops).unwrap();
        let err = check(&records, &contents_at(beyond.end)).unwrap_err();
        assert!(err.contains("not the write history cut"), "{err}");
    }

    #[test]
    fn rejects_a_hole() {
        let (records, plan) = side_file(300);
        let cut = next_op_after(&plan, 300);
        // A put in the middle whose key nothing later in the cycle touches.
        let hole = (BASE + 10..cut - 10)
            .find(|&j| {
                let o = op(SEED, j);
                o.kind == OpKind::Put && untouched(o.key, j + 1..cut)
            })
            .expect("a put whose key is not touched again");
        let mut model = start();
        for index in (BASE..cut).filter(|&i| i != hole) {
            model.apply(SEED, index, CYCLE);
        }
        let err = check(&records, &Contents::of_model(SEED, &model)).unwrap_err();
        assert!(err.contains("not the write history cut"), "{err}");
    }

    #[test]
    fn rejects_a_resurrected_delete() {
        let (records, plan) = side_file(300);
        let cut = next_op_after(&plan, 300);
        let full = model_at(cut);
        // A delete of a key that had a value, not touched again afterwards.
        let (key, before) = (BASE + 10..cut - 10)
            .find_map(|j| {
                let o = op(SEED, j);
                let before = model_at(j).value(SEED, o.key)?;
                (o.kind == OpKind::Delete && untouched(o.key, j + 1..cut)).then_some((o.key, before))
            })
            .expect("a delete of a live key that is not touched again");
        let mut actual = Contents::of_model(SEED, &full);
        actual.set(key, Some(before));
        let err = check(&records, &actual).unwrap_err();
        assert!(err.contains("not the write history cut"), "{err}");
    }

    #[test]
    fn rejects_lost_synced_writes() {
        let n = steps_before(|s| matches!(s, Step::Write { sync: true, .. }));
        let (records, plan) = side_file(n + 1);
        let synced_end = plan[n].ops().unwrap().end;
        let start_of_synced = plan[n].ops().unwrap().start;
        assert!(check(&records, &contents_at(synced_end)).is_ok());
        let err = check(&records, &contents_at(start_of_synced)).unwrap_err();
        assert!(err.contains("lost synced writes"), "{err}");
    }

    #[test]
    fn rejects_lost_unsynced_acknowledged_writes() {
        let n = steps_before(|s| matches!(s, Step::Write { sync: false, .. }));
        let (records, plan) = side_file(n + 1);
        let ops = plan[n].ops().unwrap();
        let verdict = check(&records, &contents_at(ops.end)).unwrap();
        assert!(verdict.synced_mark <= ops.start && verdict.acked_mark == ops.end);
        let err = check(&records, &contents_at(ops.start)).unwrap_err();
        assert!(err.contains("lost acknowledged writes"), "{err}");
    }

    #[test]
    fn an_unlogged_batch_without_its_flush_may_be_lost_or_kept() {
        let n = steps_before(|s| matches!(s, Step::Unlogged { .. }));
        let (mut records, plan) = side_file(n + 1);
        assert!(matches!(records.pop(), Some(Record::Flushed { .. })));
        let ops = plan[n].ops().unwrap();
        assert_eq!(check(&records, &contents_at(ops.start)).unwrap().cut, ops.start);
        assert_eq!(check(&records, &contents_at(ops.end)).unwrap().cut, ops.end);
        // With its flush recorded, losing it is losing a durable write.
        let (records, _) = side_file(n + 1);
        let err = check(&records, &contents_at(ops.start)).unwrap_err();
        assert!(err.contains("lost synced writes"), "{err}");
    }

    #[test]
    fn a_writer_killed_before_open_changed_nothing() {
        let records = vec![Record::Begin { cycle: CYCLE, base: BASE }];
        assert_eq!(check(&records, &contents_at(BASE)).unwrap().cut, BASE);
        assert_eq!(check(&[], &contents_at(BASE)).unwrap().cut, BASE);
        let (_, plan) = side_file(1);
        let first = plan.iter().find_map(Step::ops).unwrap();
        assert!(check(&records, &contents_at(first.end)).is_err());
    }

    #[test]
    fn rejects_foreign_keys_and_side_files_that_disagree_with_the_plan() {
        let (records, plan) = side_file(50);
        let cut = next_op_after(&plan, 50);
        let mut actual = contents_at(cut);
        actual.add_foreign(b"intruder".to_vec(), b"x".to_vec());
        let err = check(&records, &actual).unwrap_err();
        assert!(err.contains("foreign key"), "{err}");

        let mut wrong = records.clone();
        let position = wrong.iter().position(|r| matches!(r, Record::Write { .. })).unwrap();
        if let Record::Write { end, .. } = &mut wrong[position] {
            *end += 1;
        }
        let err = check(&wrong, &contents_at(cut)).unwrap_err();
        assert!(err.contains("disagrees with the plan"), "{err}");

        let err = check_cycle(SEED, CYCLE + 1, BASE, &start(), &records, &contents_at(cut)).unwrap_err();
        assert!(err.contains("side file starts with"), "{err}");
    }

    /// A counter that lost one merge operand (or got one twice) is the
    /// value of no cut.
    #[test]
    fn rejects_a_lost_or_repeated_merge_operand() {
        let (records, plan) = side_file(300);
        let cut = next_op_after(&plan, 300);
        let full = model_at(cut);
        let merge =
            (BASE + 10..cut - 10).find(|&j| op(SEED, j).kind == OpKind::Merge).expect("a merge in the cycle");
        let key = op(SEED, merge).key;
        let counter = |model: &Model| u64::from_le_bytes(model.value(SEED, key).unwrap().try_into().unwrap());
        assert!(check(&records, &Contents::of_model(SEED, &full)).is_ok());
        for wrong in [
            counter(&full).wrapping_sub(merge_operand(SEED, merge)),
            counter(&full).wrapping_add(merge_operand(SEED, merge)),
        ] {
            let mut actual = Contents::of_model(SEED, &full);
            actual.set(key, Some(wrong.to_le_bytes().to_vec()));
            let err = check(&records, &actual).unwrap_err();
            assert!(err.contains("not the write history cut") && err.contains("counter value"), "{err}");
        }
    }

    /// A cycle of `STEPS` acknowledged steps (long enough to hold range
    /// deletions of every sort), its side file and where it ended.
    const STEPS: usize = 600;

    fn long_cycle() -> (Vec<Record>, u64) {
        let (records, plan) = side_file(STEPS);
        let cut = next_op_after(&plan, STEPS);
        (records, cut)
    }

    /// Whether no operation in `ops` changes key number `key`.
    fn untouched(key: u32, mut ops: std::ops::Range<u64>) -> bool {
        ops.all(|i| {
            let o = op(SEED, i);
            match o.kind {
                OpKind::DeleteRange { end, .. } => !(o.key..end).contains(&key),
                _ => o.key != key,
            }
        })
    }

    /// The range deletions of this cycle before `cut - 10`, with the keys of
    /// their range that held a value just before them and that no later
    /// operation before `cut` touches.
    fn range_deletions_with_untouched_victims(cut: u64) -> Vec<(u64, Vec<u32>)> {
        let mut model = start();
        let mut found = Vec::new();
        for j in BASE..cut - 10 {
            let o = op(SEED, j);
            if let OpKind::DeleteRange { end, .. } = o.kind {
                let victims: Vec<u32> = (o.key..end)
                    .filter(|&k| model.value(SEED, k).is_some() && untouched(k, j + 1..cut))
                    .collect();
                if j >= BASE + 10 {
                    found.push((j, victims));
                }
            }
            model.apply(SEED, j, CYCLE);
        }
        found
    }

    /// The model, and the range deletions, behave as the history says:
    /// every key of the range is gone, later writes to it are not.
    #[test]
    fn a_range_deletion_deletes_its_keys_and_nothing_written_later() {
        let (begin, end, j) = (0..)
            .find_map(|j| match op(SEED, j).kind {
                OpKind::DeleteRange { end, .. } if end - op(SEED, j).key > 20 => {
                    Some((op(SEED, j).key, end, j))
                }
                _ => None,
            })
            .unwrap();
        let mut model = Model::new();
        for index in 0..j {
            model.apply(SEED, index, 0);
        }
        assert!(model.live_in(begin..end) > 0);
        assert_eq!(model.apply(SEED, j, 0), begin..end);
        assert_eq!(model.live_in(begin..end), 0);
        let later =
            (j + 1..).find(|&i| op(SEED, i).kind == OpKind::Put && (begin..end).contains(&op(SEED, i).key));
        let later = later.unwrap();
        for index in j + 1..=later {
            model.apply(SEED, index, 0);
        }
        assert!(model.value(SEED, op(SEED, later).key).is_some());
        let stats = RangeDeletionStats::of(SEED, &Model::new(), 0..j + 1);
        assert_eq!(stats.range_deletions, range_deletions_in(SEED, 0..j + 1));
        assert!(stats.keys_deleted > 0);
    }

    /// A range deletion lost in recovery (its keys keep their values) is no cut.
    #[test]
    fn rejects_a_lost_range_deletion() {
        let (records, cut) = long_cycle();
        assert!(check(&records, &contents_at(cut)).is_ok());
        let candidates = range_deletions_with_untouched_victims(cut);
        assert!(candidates.len() >= 3, "{} range deletions", candidates.len());
        let mut rejected = 0;
        for (lost, victims) in candidates.iter().filter(|(_, v)| !v.is_empty()).take(10) {
            let mut model = start();
            for index in (BASE..cut).filter(|i| i != lost) {
                model.apply(SEED, index, CYCLE);
            }
            for &k in victims {
                assert!(model.value(SEED, k).is_some());
            }
            let err = check(&records, &Contents::of_model(SEED, &model)).unwrap_err();
            assert!(err.contains("not the write history cut"), "{err}");
            rejected += 1;
        }
        assert!(rejected >= 2, "{rejected} lost range deletions tried");
    }

    /// One key of a deleted range that comes back (with the value it had
    /// before the range deletion, as after a tombstone dropped too early
    /// or a seek that skipped it wrongly) is no cut.
    #[test]
    fn rejects_a_key_resurrected_from_under_a_range_deletion() {
        let (records, cut) = long_cycle();
        let full = model_at(cut);
        let mut tried = 0;
        for (j, victims) in
            range_deletions_with_untouched_victims(cut).into_iter().filter(|(_, v)| !v.is_empty()).take(5)
        {
            let before = model_at(j);
            // The first, the last and a middle key of what it deleted.
            let picks = [victims.first(), victims.last(), victims.get(victims.len() / 2)];
            for &k in picks.into_iter().flatten() {
                let mut actual = Contents::of_model(SEED, &full);
                actual.set(k, before.value(SEED, k));
                let err = check(&records, &actual).unwrap_err();
                assert!(
                    err.contains("not the write history cut") && err.contains(&format!("key {k}:")),
                    "{err}"
                );
                tried += 1;
            }
        }
        assert!(tried >= 6, "{tried} resurrections tried");
    }

    /// A range deletion must not delete what was written after it: a later
    /// put (or merge) into its range that is missing is no cut.
    #[test]
    fn rejects_a_range_deletion_applied_to_a_later_write() {
        let (records, cut) = long_cycle();
        let full = model_at(cut);
        let mut tried = 0;
        for j in (BASE..cut).filter(|&j| matches!(op(SEED, j).kind, OpKind::DeleteRange { .. })) {
            let OpKind::DeleteRange { end, .. } = op(SEED, j).kind else { unreachable!() };
            let begin = op(SEED, j).key;
            // The first key of the range written again after it and not deleted since.
            let Some(k) = (begin..end).find(|&k| full.value(SEED, k).is_some() && !untouched(k, j + 1..cut))
            else {
                continue;
            };
            let mut actual = Contents::of_model(SEED, &full);
            actual.set(k, None);
            let err = check(&records, &actual).unwrap_err();
            assert!(err.contains("not the write history cut"), "{err}");
            tried += 1;
        }
        assert!(tried >= 2, "{tried} later writes tried");
    }

    /// A counter that was live when a range deletion covered it and merged
    /// into after it must hold the sum of the later merges only: a merge
    /// that reads through the tombstone (adds to the deleted value), or a
    /// counter back at its deleted value, is no cut.
    #[test]
    fn rejects_a_counter_merged_through_a_range_deletion() {
        let (records, cut) = long_cycle();
        let full = model_at(cut);
        let counter =
            |model: &Model, k: u32| model.value(SEED, k).map(|v| u64::from_le_bytes(v.try_into().unwrap()));
        let mut tried = 0;
        for j in (BASE..cut).filter(|&j| matches!(op(SEED, j).kind, OpKind::DeleteRange { .. })) {
            let OpKind::DeleteRange { end, .. } = op(SEED, j).kind else { unreachable!() };
            let before = model_at(j);
            for k in (op(SEED, j).key..end).filter(|&k| is_counter(k)) {
                let Some(deleted) = counter(&before, k) else { continue };
                // Only merges into k after the range deletion, at least one.
                let later: Vec<u64> = (j + 1..cut).filter(|&i| !untouched(k, i..i + 1)).collect();
                if later.is_empty() || !later.iter().all(|&i| op(SEED, i).kind == OpKind::Merge) {
                    continue;
                }
                let sum: u64 = later.iter().map(|&i| merge_operand(SEED, i)).sum();
                assert_eq!(counter(&full, k), Some(sum));
                for wrong in [deleted.wrapping_add(sum), deleted] {
                    let mut actual = Contents::of_model(SEED, &full);
                    actual.set(k, Some(wrong.to_le_bytes().to_vec()));
                    let err = check(&records, &actual).unwrap_err();
                    assert!(
                        err.contains("not the write history cut") && err.contains("counter value"),
                        "{err}"
                    );
                }
                tried += 1;
            }
        }
        assert!(tried >= 1, "no counter merged after a range deletion covered it");
    }

    /// The counters follow their merges, puts, deletes and range deletions in the model.
    #[test]
    fn counters_sum_their_merges_since_their_last_put_or_delete() {
        let key = op(SEED, (0..).find(|&i| op(SEED, i).kind == OpKind::Merge).unwrap()).key;
        let mut model = Model::new();
        let mut expected: Option<u64> = None;
        let mut range_deleted = 0;
        for index in 0..5000 {
            let o = op(SEED, index);
            model.apply(SEED, index, 0);
            expected = match o.kind {
                OpKind::DeleteRange { end, .. } if (o.key..end).contains(&key) => {
                    range_deleted += 1;
                    None
                }
                _ if o.key != key => expected,
                OpKind::Put => Some(counter_put_value(SEED, index)),
                OpKind::Delete | OpKind::DeleteRange { .. } => None,
                OpKind::Merge => Some(expected.unwrap_or(0).wrapping_add(merge_operand(SEED, index))),
            };
        }
        assert!(range_deleted > 0, "no range deletion covered counter {key}");
        assert_eq!(model.value(SEED, key), expected.map(|v| v.to_le_bytes().to_vec()));
    }

    #[test]
    fn reads_back_what_a_database_holds() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::crash::cycle_options::CycleOptions::for_cycle(SEED, 0).to_options();
        let db = Db::open(dir.path(), options).unwrap();
        let mut model = Model::new();
        for index in 0..3000 {
            db.write(Default::default(), crate::crash::writer::batch_for(SEED, 0, index..index + 1)).unwrap();
            model.apply(SEED, index, 0);
        }
        db.put(b"zz-other", b"v").unwrap();
        let contents = Contents::read(&db).unwrap();
        let mut expected = Contents::of_model(SEED, &model);
        expected.add_foreign(b"zz-other".to_vec(), b"v".to_vec());
        assert_eq!(contents, expected);
        assert!(model.live_keys() > 100);
    }
}
