//! Step 3 of the repair: level-0 order. A point lookup stops at the first
//! overlapping level-0 table (highest number first) that holds the key, so
//! among tables with overlapping keys the newer entries must have the
//! higher number: tables whose key *and* sequence ranges overlap are merged
//! into one, then tables are renumbered if numbers still disagree with the
//! sequence order.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use lsmkit_base::filename::table_file_name;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{extract_user_key, InternalKeyComparator};
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::Result;
use lsmkit_sstable::Table;

use super::{FoundTable, Repairer};

impl Repairer<'_> {
    /// Makes file-number order agree with sequence order among tables with
    /// overlapping keys: merges tables whose key and sequence ranges both
    /// overlap (until none do), then renumbers if needed.
    pub(super) fn order_for_level0(&mut self, mut tables: Vec<FoundTable>) -> Result<Vec<FoundTable>> {
        loop {
            let groups = conflict_groups(&self.icmp, &tables);
            if groups.is_empty() {
                break;
            }
            // Each merge turns two or more tables into one: this ends.
            let mut replaced = vec![false; tables.len()];
            let mut merged = Vec::new();
            for group in &groups {
                let inputs: Vec<&FoundTable> = group.iter().map(|&i| &tables[i]).collect();
                merged.extend(self.merge_tables(&inputs)?);
                for &i in group {
                    replaced[i] = true;
                }
            }
            let mut kept = Vec::with_capacity(tables.len());
            for (table, replaced) in tables.into_iter().zip(replaced) {
                if !replaced {
                    kept.push(table);
                    continue;
                }
                self.report.merged_tables.push(table.number);
                if table.original {
                    self.set_aside(&table.path)?;
                } else {
                    self.fs.remove_file(&table.path)?;
                }
            }
            kept.extend(merged);
            tables = kept;
        }

        // Now overlapping tables have disjoint sequence ranges: sequence
        // order is a total order among them.
        tables.sort_by_key(|t| (t.min_sequence, t.max_sequence, t.number));
        let misordered = tables.iter().enumerate().any(|(i, older)| {
            tables[i + 1..]
                .iter()
                .any(|newer| keys_overlap(&self.icmp, older, newer) && older.number > newer.number)
        });
        if misordered {
            let mut last_number = 0;
            for table in &mut tables {
                if table.number <= last_number {
                    let number = self.new_file_number();
                    let path = table_file_name(self.dir, number);
                    self.fs.rename(&table.path, &path)?;
                    self.report.renumbered_tables.push(table.number);
                    table.number = number;
                    table.path = path;
                }
                last_number = table.number;
            }
        }
        Ok(tables)
    }

    /// Merges `inputs` into one new table (exact duplicates, as a log and
    /// the table flushed from it both hold, are kept once).
    fn merge_tables(&mut self, inputs: &[&FoundTable]) -> Result<Option<FoundTable>> {
        let read = lsmkit_sstable::ReadOptions { verify_checksums: true, fill_cache: false };
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::with_capacity(inputs.len());
        let mut tombstones = Vec::new();
        for input in inputs {
            let table = Arc::new(Table::open_path(self.fs, &input.path, self.table_options.clone())?);
            tombstones.extend(table.range_tombstones().cloned());
            children.push(Box::new(table.iter(read)));
        }
        let mut merged = MergingIterator::new(Arc::new(self.icmp.clone()), children);
        self.write_table(|out| {
            for list in &tombstones {
                out.add_range_tombstones(list);
            }
            merged.seek_to_first();
            while merged.valid() {
                out.add(merged.key(), merged.value())?;
                merged.next();
            }
            merged.status()
        })
    }
}

/// Groups (two or more tables each) of tables linked by overlapping both
/// in user keys and in sequence numbers.
fn conflict_groups(icmp: &InternalKeyComparator, tables: &[FoundTable]) -> Vec<Vec<usize>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..tables.len()).collect();
    for (i, a) in tables.iter().enumerate() {
        for (j, b) in tables.iter().enumerate().skip(i + 1) {
            let sequences_overlap = a.min_sequence <= b.max_sequence && b.min_sequence <= a.max_sequence;
            if sequences_overlap && keys_overlap(icmp, a, b) {
                let (ra, rb) = (root(&mut parent, i), root(&mut parent, j));
                parent[ra] = rb;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..tables.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.into_values().filter(|group| group.len() > 1).collect()
}

/// True when the user-key ranges of `a` and `b` overlap.
fn keys_overlap(icmp: &InternalKeyComparator, a: &FoundTable, b: &FoundTable) -> bool {
    let (a_low, a_high) = (extract_user_key(&a.smallest), extract_user_key(&a.largest));
    let (b_low, b_high) = (extract_user_key(&b.smallest), extract_user_key(&b.largest));
    icmp.compare_user_keys(a_low, b_high) != Ordering::Greater
        && icmp.compare_user_keys(b_low, a_high) != Ordering::Greater
}
