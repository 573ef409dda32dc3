//! Property tests of the VersionEdit encoding (docs/format.md §10.1): random edits
//! survive encode → decode, decoding is order-insensitive for scalars in the
//! way LevelDB's is, and arbitrary bytes never panic the decoder.

use std::collections::BTreeSet;

use lsmkit_base::key::{make_internal_key, ValueKind, MAX_SEQUENCE_NUMBER};
use lsmkit_version::{FileMetaData, VersionEdit, NUM_LEVELS};
use proptest::prelude::*;

fn internal_key() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec(any::<u8>(), 0..12), 0..=MAX_SEQUENCE_NUMBER, any::<bool>()).prop_map(
        |(user_key, sequence, is_value)| {
            make_internal_key(
                &user_key,
                sequence,
                if is_value { ValueKind::Value } else { ValueKind::Deletion },
            )
        },
    )
}

fn level() -> impl Strategy<Value = usize> {
    0..NUM_LEVELS
}

fn new_file() -> impl Strategy<Value = (usize, FileMetaData)> {
    (level(), any::<u64>(), any::<u64>(), internal_key(), internal_key()).prop_map(
        |(level, number, size, smallest, largest)| {
            (level, FileMetaData::new(number, size, smallest, largest))
        },
    )
}

fn edit() -> impl Strategy<Value = VersionEdit> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec((level(), internal_key()), 0..4),
        proptest::collection::btree_set((level(), any::<u64>()), 0..6),
        proptest::collection::vec(new_file(), 0..6),
    )
        .prop_map(
            |(
                comparator_name,
                log_number,
                prev_log_number,
                next_file_number,
                last_sequence,
                compact_pointers,
                deleted_files,
                new_files,
            )| {
                VersionEdit {
                    comparator_name,
                    log_number,
                    prev_log_number,
                    next_file_number,
                    last_sequence,
                    compact_pointers,
                    deleted_files,
                    new_files,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_decode_round_trip(edit in edit()) {
        let bytes = edit.encode();
        let decoded = VersionEdit::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &edit);
        // Encoding is canonical: the decoded edit encodes to the same bytes.
        prop_assert_eq!(decoded.encode(), bytes);
        prop_assert_eq!(edit.validate(), Ok(()));
    }

    /// Two records concatenated decode as one edit whose scalars come from
    /// the second where it has them and whose lists are accumulated.
    #[test]
    fn concatenation_merges_like_leveldb(a in edit(), b in edit()) {
        let mut bytes = a.encode();
        bytes.extend_from_slice(&b.encode());
        let merged = VersionEdit::decode(&bytes).unwrap();
        prop_assert_eq!(&merged.comparator_name, &b.comparator_name.clone().or(a.comparator_name.clone()));
        prop_assert_eq!(merged.log_number, b.log_number.or(a.log_number));
        prop_assert_eq!(merged.prev_log_number, b.prev_log_number.or(a.prev_log_number));
        prop_assert_eq!(merged.next_file_number, b.next_file_number.or(a.next_file_number));
        prop_assert_eq!(merged.last_sequence, b.last_sequence.or(a.last_sequence));
        let pointers: Vec<_> = a.compact_pointers.iter().chain(&b.compact_pointers).cloned().collect();
        prop_assert_eq!(&merged.compact_pointers, &pointers);
        let deleted: BTreeSet<_> = a.deleted_files.union(&b.deleted_files).copied().collect();
        prop_assert_eq!(&merged.deleted_files, &deleted);
        let files: Vec<_> = a.new_files.iter().chain(&b.new_files).cloned().collect();
        prop_assert_eq!(&merged.new_files, &files);
    }

    /// Any truncation of a valid record that does not end on a field
    /// boundary is an error, never a panic; arbitrary bytes never panic.
    #[test]
    fn damaged_records_never_panic(edit in edit(), cut in any::<prop::sample::Index>(), garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
        let bytes = edit.encode();
        if !bytes.is_empty() {
            let cut = cut.index(bytes.len());
            if let Err(e) = VersionEdit::decode(&bytes[..cut]) {
                prop_assert!(e.is_corruption());
            }
        }
        if let Err(e) = VersionEdit::decode(&garbage) {
            prop_assert!(e.is_corruption());
        }
    }
}
