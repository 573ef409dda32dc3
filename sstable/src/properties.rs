//! Table properties: lsmkit's extension meta block `lsmkit.properties`
//! (docs/format-extensions.md, "Table properties block"). It is an ordinary
//! block (docs/format.md §6.5) of `name -> varint64` entries sorted bytewise,
//! listed in the metaindex under a name LevelDB 1.23 never looks up.

use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::coding::{get_varint64, put_varint64};
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{parse_internal_key, SequenceNumber, ValueKind};
use lsmkit_base::{Error, Result};

use crate::block::Block;
use crate::block_builder::BlockBuilder;

/// The metaindex key of the properties block.
pub const PROPERTIES_BLOCK_NAME: &str = "lsmkit.properties";

const ENTRIES: &str = "entries";
const DELETIONS: &str = "deletions";
const RAW_KEY_BYTES: &str = "raw_key_bytes";
const RAW_VALUE_BYTES: &str = "raw_value_bytes";
const SMALLEST_SEQUENCE: &str = "smallest_sequence";
const LARGEST_SEQUENCE: &str = "largest_sequence";

/// Statistics about a table's entries, gathered while it is built.
///
/// The deletion count and the sequence range are known only for tables
/// whose keys are internal keys ([`TableOptions::internal_keys`](crate::TableOptions::internal_keys));
/// they are `None` otherwise, and the sequence range is `None` for a table
/// without entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableProperties {
    /// Number of entries (values and deletion markers).
    pub entries: u64,
    /// Number of deletion markers.
    pub deletions: Option<u64>,
    /// Total length of all keys as stored (internal keys include their 8-byte trailer).
    pub raw_key_bytes: u64,
    /// Total length of all values, before compression.
    pub raw_value_bytes: u64,
    /// The smallest sequence number of any entry.
    pub smallest_sequence: Option<SequenceNumber>,
    /// The largest sequence number of any entry.
    pub largest_sequence: Option<SequenceNumber>,
}

impl TableProperties {
    /// Counts one added entry. With `internal_keys`, `key` must parse as an
    /// internal key (the caller has checked).
    pub(crate) fn record(&mut self, key: &[u8], value: &[u8], internal_keys: bool) {
        self.entries += 1;
        self.raw_key_bytes += key.len() as u64;
        self.raw_value_bytes += value.len() as u64;
        if !internal_keys {
            return;
        }
        let deletions = self.deletions.get_or_insert(0);
        if let Ok(parsed) = parse_internal_key(key) {
            if parsed.kind == ValueKind::Deletion {
                *deletions += 1;
            }
            self.smallest_sequence =
                Some(self.smallest_sequence.map_or(parsed.sequence, |s| s.min(parsed.sequence)));
            self.largest_sequence =
                Some(self.largest_sequence.map_or(parsed.sequence, |s| s.max(parsed.sequence)));
        }
    }

    /// The properties block's bytes (uncompressed).
    pub fn encode(&self) -> Vec<u8> {
        let mut fields: Vec<(&str, u64)> = vec![
            (ENTRIES, self.entries),
            (RAW_KEY_BYTES, self.raw_key_bytes),
            (RAW_VALUE_BYTES, self.raw_value_bytes),
        ];
        if let Some(deletions) = self.deletions {
            fields.push((DELETIONS, deletions));
        }
        if let Some(smallest) = self.smallest_sequence {
            fields.push((SMALLEST_SEQUENCE, smallest));
        }
        if let Some(largest) = self.largest_sequence {
            fields.push((LARGEST_SEQUENCE, largest));
        }
        fields.sort_unstable_by_key(|(name, _)| *name);
        let mut builder = BlockBuilder::new(16);
        let mut value = Vec::new();
        for (name, number) in fields {
            value.clear();
            put_varint64(&mut value, number);
            builder.add(name.as_bytes(), &value);
        }
        builder.finish().to_vec()
    }

    /// Decodes a properties block. Names are strictly ascending; unknown
    /// names are skipped (room for later additions); `entries`,
    /// `raw_key_bytes` and `raw_value_bytes` are required.
    pub fn decode(contents: Bytes) -> Result<TableProperties> {
        let block = Block::new(contents)?;
        let mut it = block.iter(Arc::new(BytewiseComparator));
        let mut props = TableProperties::default();
        let (mut has_entries, mut has_key_bytes, mut has_value_bytes) = (false, false, false);
        let mut previous: Option<Vec<u8>> = None;
        it.seek_to_first();
        while it.valid() {
            let name = it.key();
            if previous.as_deref().is_some_and(|p| p >= name) {
                return Err(Error::corruption("properties block: names out of order"));
            }
            let mut input = it.value();
            let number = get_varint64(&mut input)
                .map_err(|e| Error::corruption(format!("properties block: bad value: {e}")))?;
            match std::str::from_utf8(name) {
                Ok(ENTRIES) => (props.entries, has_entries) = (number, true),
                Ok(DELETIONS) => props.deletions = Some(number),
                Ok(RAW_KEY_BYTES) => (props.raw_key_bytes, has_key_bytes) = (number, true),
                Ok(RAW_VALUE_BYTES) => (props.raw_value_bytes, has_value_bytes) = (number, true),
                Ok(SMALLEST_SEQUENCE) => props.smallest_sequence = Some(number),
                Ok(LARGEST_SEQUENCE) => props.largest_sequence = Some(number),
                _ => {}
            }
            previous = Some(name.to_vec());
            it.next();
        }
        it.status()?;
        if !(has_entries && has_key_bytes && has_value_bytes) {
            return Err(Error::corruption("properties block: a required property is missing"));
        }
        Ok(props)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::key::make_internal_key;

    #[test]
    fn internal_key_properties_round_trip() {
        let mut props = TableProperties::default();
        props.record(&make_internal_key(b"a", 7, ValueKind::Value), b"xyz", true);
        props.record(&make_internal_key(b"b", 3, ValueKind::Deletion), b"", true);
        props.record(&make_internal_key(b"c", 12, ValueKind::Value), b"1", true);
        assert_eq!(
            props,
            TableProperties {
                entries: 3,
                deletions: Some(1),
                raw_key_bytes: 27,
                raw_value_bytes: 4,
                smallest_sequence: Some(3),
                largest_sequence: Some(12),
            }
        );
        assert_eq!(TableProperties::decode(Bytes::from(props.encode())).unwrap(), props);
    }

    #[test]
    fn plain_key_properties_have_no_sequences() {
        let mut props = TableProperties::default();
        props.record(b"plain", b"value", false);
        assert_eq!(props.deletions, None);
        assert_eq!(props.smallest_sequence, None);
        assert_eq!(TableProperties::decode(Bytes::from(props.encode())).unwrap(), props);
    }

    #[test]
    fn unknown_names_are_skipped_and_missing_ones_rejected() {
        let mut builder = BlockBuilder::new(16);
        builder.add(b"entries", &[5]);
        builder.add(b"future_property", &[1]);
        builder.add(b"raw_key_bytes", &[6]);
        builder.add(b"raw_value_bytes", &[7]);
        let props = TableProperties::decode(Bytes::copy_from_slice(builder.finish())).unwrap();
        assert_eq!((props.entries, props.raw_key_bytes, props.raw_value_bytes), (5, 6, 7));

        let mut builder = BlockBuilder::new(16);
        builder.add(b"entries", &[5]);
        assert!(TableProperties::decode(Bytes::copy_from_slice(builder.finish()))
            .unwrap_err()
            .is_corruption());
    }

    #[test]
    fn out_of_order_or_bad_values_are_corruption() {
        let mut builder = BlockBuilder::new(16);
        builder.add(b"raw_key_bytes", &[6]);
        builder.add(b"entries", &[5]);
        assert!(TableProperties::decode(Bytes::copy_from_slice(builder.finish()))
            .unwrap_err()
            .is_corruption());
        let mut builder = BlockBuilder::new(16);
        builder.add(b"entries", &[0x80]);
        assert!(TableProperties::decode(Bytes::copy_from_slice(builder.finish()))
            .unwrap_err()
            .is_corruption());
    }
}
