//! Constants and physical record types of the log format (docs/format.md §3.1),
//! shared by [`LogWriter`](crate::LogWriter) and [`LogReader`](crate::LogReader).
//!
//! A log file is a sequence of 32 KiB blocks. Each block holds physical
//! records (a 7-byte header, then the payload) and possibly a trailer of 1–6
//! zero bytes that is too short for another header.
//!
//! ```text
//! | block 0: 32 768 bytes              | block 1             | ... last block may be short
//! | record | record | ... | 0..6 zeros | record | ...
//!                            (trailer)
//! record (header 7 bytes):
//!  +----------------+--------------+---------+===================+
//!  | crc: fixed32   | length: u16  | type u8 | payload           |
//!  +----------------+--------------+---------+===================+
//!   masked crc32c(type ++ payload)    1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST
//!                                     (0 with length 0: zero-filled space)
//! e.g. e7 5a 4d 00 | 11 00 | 01 | 17-byte WriteBatch
//! ```

use lsmkit_base::coding::encode_fixed32;
use lsmkit_base::crc;

/// Size of one log block; only the last block of a file may be shorter.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Size of a physical record header: masked CRC (4), length (2), type (1).
pub const HEADER_SIZE: usize = 4 + 2 + 1;

/// The largest payload one physical record can carry (a whole block).
pub const MAX_FRAGMENT_PAYLOAD: usize = BLOCK_SIZE - HEADER_SIZE;

/// The type byte of a physical record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// Reserved for zero-filled (preallocated) space; never written as a record.
    Zero = 0,
    /// A whole logical record in one fragment.
    Full = 1,
    /// The first fragment of a logical record that continues in the next block.
    First = 2,
    /// A fragment that neither starts nor ends its logical record.
    Middle = 3,
    /// The final fragment of a logical record.
    Last = 4,
}

impl RecordType {
    /// Decodes a type byte; values above 4 are `None`.
    pub fn from_byte(byte: u8) -> Option<RecordType> {
        match byte {
            0 => Some(RecordType::Zero),
            1 => Some(RecordType::Full),
            2 => Some(RecordType::First),
            3 => Some(RecordType::Middle),
            4 => Some(RecordType::Last),
            _ => None,
        }
    }
}

/// The CRC-32C a record header stores (masked), over `type ++ payload`.
pub fn record_checksum(type_byte: u8, payload: &[u8]) -> u32 {
    crc::mask(crc::extend(crc::value(&[type_byte]), payload))
}

/// The 7-byte header of a physical record carrying `payload`.
///
/// `payload` must be at most [`MAX_FRAGMENT_PAYLOAD`] bytes long; the writer
/// guarantees that by splitting records at block boundaries.
pub fn encode_header(record_type: RecordType, payload: &[u8]) -> [u8; HEADER_SIZE] {
    debug_assert!(payload.len() <= MAX_FRAGMENT_PAYLOAD);
    let mut header = [0u8; HEADER_SIZE];
    encode_fixed32(&mut header[..4], record_checksum(record_type as u8, payload));
    header[4..6].copy_from_slice(&(payload.len() as u16).to_le_bytes());
    header[6] = record_type as u8;
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_first_header_matches_format_md() {
        // docs/format.md §3.4: the zero-length FIRST record LevelDB writes when
        // exactly 7 bytes are left in a block.
        assert_eq!(encode_header(RecordType::First, &[]), [0x64, 0x51, 0xd0, 0xe9, 0x00, 0x00, 0x02]);
    }

    #[test]
    fn type_bytes_round_trip() {
        for byte in 0..=4u8 {
            assert_eq!(RecordType::from_byte(byte).map(|t| t as u8), Some(byte));
        }
        assert_eq!(RecordType::from_byte(5), None);
        assert_eq!(RecordType::from_byte(255), None);
    }
}
