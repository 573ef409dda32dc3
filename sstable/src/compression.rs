//! Block compression (docs/format.md §6.2): the compression-type byte of a block
//! trailer, raw Snappy, and LevelDB's rule that a compressed block is kept
//! only when it saves at least 12.5%.

use lsmkit_base::{Error, Result};

/// How a table builder stores its data, metaindex and index blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Every block is stored as is (trailer type 0).
    None,
    /// Raw ("block") Snappy, trailer type 1, used for a block only when it
    /// shrinks it by at least an eighth. LevelDB's default.
    #[default]
    Snappy,
}

/// Trailer byte of a block stored uncompressed.
pub const NO_COMPRESSION: u8 = 0;
/// Trailer byte of a block stored as raw Snappy.
pub const SNAPPY_COMPRESSION: u8 = 1;

/// Compresses `raw` into `scratch` and returns the bytes to store and their
/// trailer type: the compressed bytes when they save at least 12.5%
/// (`compressed < raw - raw/8`), otherwise `raw` itself with type 0.
///
/// `scratch` is a reusable buffer: it only ever grows (zeroed once, when
/// it does), so compressing block after block costs no allocation and no
/// clearing.
pub(crate) fn compress_block<'a>(
    compression: Compression,
    encoder: &mut snap::raw::Encoder,
    raw: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> (&'a [u8], u8) {
    match compression {
        Compression::None => (raw, NO_COMPRESSION),
        Compression::Snappy => {
            let bound = snap::raw::max_compress_len(raw.len());
            if scratch.len() < bound {
                scratch.resize(bound, 0);
            }
            match encoder.compress(raw, scratch) {
                Ok(len) if len < raw.len() - raw.len() / 8 => (&scratch[..len], SNAPPY_COMPRESSION),
                // Not worth it, or the input is beyond Snappy's limits: store raw.
                _ => (raw, NO_COMPRESSION),
            }
        }
    }
}

/// Every Snappy element that produces output costs at least 3 input bytes
/// per 64 output bytes (a 2-byte-offset copy), so no valid input of `n`
/// bytes expands past `n * 64 / 3`; a larger claimed length is corruption
/// and is refused before anything is allocated.
fn max_snappy_expansion(compressed_len: usize) -> usize {
    compressed_len.saturating_mul(64) / 3 + 64
}

/// Decompresses a raw-Snappy block; malformed input is `Corruption`.
pub(crate) fn snappy_decompress(compressed: &[u8]) -> Result<Vec<u8>> {
    let claimed = snap::raw::decompress_len(compressed)
        .map_err(|e| Error::corruption(format!("corrupted snappy block: {e}")))?;
    if claimed > max_snappy_expansion(compressed.len()) {
        return Err(Error::corruption(format!(
            "corrupted snappy block: claims {claimed} bytes from {} compressed bytes",
            compressed.len()
        )));
    }
    let mut out = vec![0u8; claimed];
    let written = snap::raw::Decoder::new()
        .decompress(compressed, &mut out)
        .map_err(|e| Error::corruption(format!("corrupted snappy block: {e}")))?;
    out.truncate(written);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitive_block_is_compressed_and_round_trips() {
        let raw = b"value value value value value value value value value value".repeat(20);
        let mut encoder = snap::raw::Encoder::new();
        let mut scratch = Vec::new();
        let (stored, kind) = compress_block(Compression::Snappy, &mut encoder, &raw, &mut scratch);
        assert_eq!(kind, SNAPPY_COMPRESSION);
        assert!(stored.len() < raw.len() / 4);
        assert_eq!(snappy_decompress(stored).unwrap(), raw);
    }

    #[test]
    fn a_reused_scratch_gives_each_block_only_its_own_bytes() {
        let mut encoder = snap::raw::Encoder::new();
        let mut scratch = Vec::new();
        let big = b"0123456789abcdef".repeat(500);
        let (stored, kind) = compress_block(Compression::Snappy, &mut encoder, &big, &mut scratch);
        assert_eq!(kind, SNAPPY_COMPRESSION);
        assert_eq!(snappy_decompress(stored).unwrap(), big);
        let grown = scratch.len();
        let small = b"xyzxyzxyzxyzxyzxyzxyzxyzxyzxyzxyzxyz".to_vec();
        let (stored, kind) = compress_block(Compression::Snappy, &mut encoder, &small, &mut scratch);
        assert_eq!(kind, SNAPPY_COMPRESSION);
        assert_eq!(stored, &snap::raw::Encoder::new().compress_vec(&small).unwrap()[..]);
        assert_eq!(snappy_decompress(stored).unwrap(), small);
        assert_eq!(scratch.len(), grown, "the scratch buffer is kept, not shrunk");
    }

    #[test]
    fn incompressible_block_is_stored_raw() {
        let raw: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut encoder = snap::raw::Encoder::new();
        let mut scratch = Vec::new();
        let (stored, kind) = compress_block(Compression::Snappy, &mut encoder, &raw, &mut scratch);
        assert_eq!(kind, NO_COMPRESSION);
        assert_eq!(stored, &raw[..]);
        let (stored, kind) =
            compress_block(Compression::None, &mut encoder, b"aaaaaaaaaaaaaaaa", &mut scratch);
        assert_eq!((stored, kind), (&b"aaaaaaaaaaaaaaaa"[..], NO_COMPRESSION));
    }

    #[test]
    fn the_twelve_and_a_half_percent_rule_is_strict() {
        // An 8-byte empty block never compresses enough (Snappy needs >= 3 bytes
        // of header + literal tag), matching LevelDB's empty metaindex being raw.
        let raw = [0u8, 0, 0, 0, 1, 0, 0, 0];
        let mut encoder = snap::raw::Encoder::new();
        let mut scratch = Vec::new();
        let (_, kind) = compress_block(Compression::Snappy, &mut encoder, &raw, &mut scratch);
        assert_eq!(kind, NO_COMPRESSION);
    }

    #[test]
    fn bogus_lengths_and_garbage_are_corruption() {
        // Claims 4 GiB from 6 bytes: refused without allocating.
        assert!(snappy_decompress(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]).unwrap_err().is_corruption());
        assert!(snappy_decompress(&[0x05, 0x00]).unwrap_err().is_corruption());
        assert!(snappy_decompress(&[]).unwrap_err().is_corruption());
        assert_eq!(snappy_decompress(&[0x00]).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn expansion_bound_holds_for_highly_compressible_input() {
        let raw = vec![7u8; 1 << 20];
        let compressed = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert!(raw.len() <= max_snappy_expansion(compressed.len()));
        assert_eq!(snappy_decompress(&compressed).unwrap(), raw);
    }
}
