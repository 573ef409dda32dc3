//! [`CompactPointers`]: per level, the largest internal key of the last
//! size-triggered compaction there (docs/format.md §10.1, tag 5). The next
//! compaction of that level starts after it, so compactions sweep the key
//! space in rounds.

use crate::config::NUM_LEVELS;
use crate::version_edit::VersionEdit;

/// The compaction pointer of every level (`None` where none was recorded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactPointers {
    pointers: [Option<Vec<u8>>; NUM_LEVELS],
}

impl CompactPointers {
    /// `level`'s pointer (an internal key), if any.
    pub fn get(&self, level: usize) -> Option<&[u8]> {
        self.pointers.get(level)?.as_deref()
    }

    /// Sets `level`'s pointer; levels ≥ [`NUM_LEVELS`] are ignored.
    pub fn set(&mut self, level: usize, internal_key: &[u8]) {
        if let Some(slot) = self.pointers.get_mut(level) {
            *slot = Some(internal_key.to_vec());
        }
    }

    /// Applies the tag-5 entries of `edit`, in order (a later one wins).
    pub fn apply(&mut self, edit: &VersionEdit) {
        for (level, key) in &edit.compact_pointers {
            self.set(*level, key);
        }
    }

    /// `(level, key)` for every level that has a pointer, in level order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        self.pointers.iter().enumerate().filter_map(|(level, key)| Some((level, key.as_deref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_pointers_win_and_levels_are_bounded() {
        let mut edit = VersionEdit::new();
        edit.compact_pointers.push((2, b"a".to_vec()));
        edit.compact_pointers.push((2, b"b".to_vec()));
        edit.compact_pointers.push((0, b"c".to_vec()));
        let mut pointers = CompactPointers::default();
        pointers.apply(&edit);
        pointers.set(NUM_LEVELS, b"ignored");
        assert_eq!(pointers.get(2), Some(&b"b"[..]));
        assert_eq!(pointers.get(1), None);
        assert_eq!(pointers.get(99), None);
        let all: Vec<(usize, &[u8])> = pointers.iter().collect();
        assert_eq!(all, [(0, &b"c"[..]), (2, &b"b"[..])]);
    }
}
