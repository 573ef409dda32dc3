//! [`Readahead`]: one table iterator's reads of consecutive data blocks
//! (docs/format.md §6.2) turned into fewer, larger reads, as RocksDB's
//! automatic iterator readahead does.
//!
//! With positional reads every data block that is not in the block cache
//! costs a `pread`. A scan reads the blocks of a table one after the other,
//! so after two blocks read back to back (in either direction) the next
//! read fetches the following (or preceding) bytes too: 16 KiB at first,
//! doubling on each further readahead up to [`MAX_READAHEAD`]. Blocks found
//! in that buffer need no system call. A read that is not next to the
//! previous one (a seek) starts over. A block served from the buffer is
//! decoded exactly as one read on its own would be (same bounds, trailer,
//! checksum and decompression checks).

use bytes::Bytes;
use lsmkit_base::fs::RandomAccessFile;
use lsmkit_base::Result;

/// The first readahead, in bytes.
pub const INITIAL_READAHEAD: usize = 16 << 10;
/// The largest readahead, in bytes: what one iterator may hold beyond its
/// current block.
pub const MAX_READAHEAD: usize = 64 << 10;
/// Consecutive block reads, next to each other, before reading ahead.
const SEQUENTIAL_READS_BEFORE_READAHEAD: u32 = 2;

/// The readahead state of one iterator over one table file.
#[derive(Debug, Default)]
pub(crate) struct Readahead {
    /// Bytes read ahead, starting at file offset `buffer_start`.
    buffer: Bytes,
    buffer_start: u64,
    /// The last range read for a block (from the file or the buffer).
    last_start: u64,
    last_end: u64,
    /// Block reads in a row next to the previous one, in `forward`'s direction.
    streak: u32,
    forward: bool,
    /// The next readahead's size (0: not started).
    next_size: usize,
}

impl Readahead {
    /// The `len` bytes at `offset` of `file`, whose readable part ends at
    /// `end`: from the buffer when it holds them, else from the file, with
    /// a readahead when the reads so far were consecutive. Fewer bytes than
    /// asked means the file is shorter (the caller reports it).
    pub(crate) fn read(
        &mut self,
        file: &dyn RandomAccessFile,
        end: u64,
        offset: u64,
        len: usize,
    ) -> Result<Bytes> {
        let block_end = offset.saturating_add(len as u64);
        let forward = offset == self.last_end;
        let backward = block_end == self.last_start && !forward;
        if (forward || backward) && self.streak > 0 && forward == self.forward {
            self.streak += 1;
        } else if forward || backward {
            self.streak = 1;
            self.forward = forward;
        } else {
            self.streak = 0;
            self.next_size = 0;
        }
        self.last_start = offset;
        self.last_end = block_end;
        if let Some(bytes) = self.buffered(offset, len) {
            return Ok(bytes);
        }
        if self.streak < SEQUENTIAL_READS_BEFORE_READAHEAD {
            return file.read_at(offset, len);
        }
        let size = self.next_size.max(INITIAL_READAHEAD).max(len);
        self.next_size = (size * 2).min(MAX_READAHEAD);
        let (start, stop) = if self.forward {
            (offset, block_end.max(offset.saturating_add(size as u64).min(end)))
        } else {
            (block_end.saturating_sub(size as u64).min(offset), block_end)
        };
        let stop_len = usize::try_from(stop - start).unwrap_or(len);
        self.buffer = file.read_at(start, stop_len)?;
        self.buffer_start = start;
        match self.buffered(offset, len) {
            Some(bytes) => Ok(bytes),
            // The file ended early: read just the block, which reports it.
            None => file.read_at(offset, len),
        }
    }

    /// The `len` bytes at `offset` if the buffer holds all of them.
    fn buffered(&self, offset: u64, len: usize) -> Option<Bytes> {
        let from = usize::try_from(offset.checked_sub(self.buffer_start)?).ok()?;
        let to = from.checked_add(len)?;
        (to <= self.buffer.len()).then(|| self.buffer.slice(from..to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file over a vector that counts its reads.
    struct CountingFile {
        data: Vec<u8>,
        reads: AtomicUsize,
    }

    impl RandomAccessFile for CountingFile {
        fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let start = (offset as usize).min(self.data.len());
            let end = start.saturating_add(len).min(self.data.len());
            Ok(Bytes::copy_from_slice(&self.data[start..end]))
        }

        fn len(&self) -> u64 {
            self.data.len() as u64
        }
    }

    fn file(len: usize) -> CountingFile {
        CountingFile { data: (0..len).map(|i| (i % 251) as u8).collect(), reads: AtomicUsize::new(0) }
    }

    #[test]
    fn consecutive_blocks_are_read_ahead_forward_and_backward() {
        const BLOCK: usize = 1000;
        let f = file(1000 * BLOCK);
        let end = f.data.len() as u64;
        let mut ahead = Readahead::default();
        for i in 0..1000 {
            let offset = (i * BLOCK) as u64;
            let bytes = ahead.read(&f, end, offset, BLOCK).unwrap();
            assert_eq!(&bytes[..], &f.data[i * BLOCK..(i + 1) * BLOCK]);
        }
        let forward_reads = f.reads.swap(0, Ordering::Relaxed);
        assert!(forward_reads < 20, "{forward_reads} reads for 1000 blocks");

        let mut behind = Readahead::default();
        for i in (0..1000).rev() {
            let bytes = behind.read(&f, end, (i * BLOCK) as u64, BLOCK).unwrap();
            assert_eq!(&bytes[..], &f.data[i * BLOCK..(i + 1) * BLOCK]);
        }
        let backward_reads = f.reads.load(Ordering::Relaxed);
        assert!(backward_reads < 20, "{backward_reads} reads for 1000 blocks");
    }

    #[test]
    fn scattered_reads_do_not_read_ahead() {
        const BLOCK: usize = 1000;
        let f = file(100 * BLOCK);
        let end = f.data.len() as u64;
        let mut ahead = Readahead::default();
        for i in [5usize, 50, 7, 90, 3, 60, 61, 20] {
            let bytes = ahead.read(&f, end, (i * BLOCK) as u64, BLOCK).unwrap();
            assert_eq!(&bytes[..], &f.data[i * BLOCK..(i + 1) * BLOCK]);
            assert!(ahead.buffer.is_empty(), "no readahead for a seek pattern");
        }
        assert_eq!(f.reads.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn a_short_file_gives_the_short_read_back() {
        let f = file(5000);
        let mut ahead = Readahead::default();
        for offset in [0u64, 1000, 2000] {
            assert_eq!(ahead.read(&f, 10_000, offset, 1000).unwrap().len(), 1000);
        }
        // Past the real end of the file: as short as a direct read.
        assert_eq!(ahead.read(&f, 10_000, 3000, 4000).unwrap().len(), 2000);
    }
}
