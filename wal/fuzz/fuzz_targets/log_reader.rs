//! Fuzz target: arbitrary bytes as a log file (docs/format.md §3.3), read to the
//! end in every recovery mode, whole and while "growing" in two pieces with a
//! following reader. No input may panic; the records of both ways of reading
//! must agree, and every dropped region must lie inside the file.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
use lsmkit_base::Result;
use lsmkit_wal::{LogReader, LogWriter, RecoveryMode, WriteBatch};

/// Reads records until the end or an error; the records and whether it failed.
fn drain(reader: &mut LogReader, limit: usize, records: &mut Vec<Vec<u8>>) -> Result<()> {
    while let Some(record) = reader.read_record()? {
        // Every record costs at least one 7-byte header.
        assert!(records.len() <= limit, "more records than the input can hold");
        if let Ok(batch) = WriteBatch::from_data(record.clone()) {
            for op in batch.ops() {
                if op.is_err() {
                    break;
                }
            }
        }
        records.push(record);
    }
    Ok(())
}

/// Builds a valid log from `spec` (records whose lengths come from the
/// input, some far longer than a block), then damages it: byte flips and a
/// truncation, all chosen by the input. Random bytes alone almost never carry
/// a valid CRC; this reaches the reassembly and recovery-mode paths.
fn damaged_log(control: u8, spec: &[u8]) -> Vec<u8> {
    let fs = MemFs::new();
    let path = Path::new("built.log");
    let mut writer = LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
    let (edits, lengths) = spec.split_at(spec.len().min(16));
    // Records up to 80 KiB, at most 96 KiB (three blocks) in all, to keep runs fast.
    let scale = [1, 8, 20, 40][usize::from(control & 3)];
    for (i, pair) in lengths.chunks(2).enumerate() {
        let len = usize::from(u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)])) % 2048 * scale;
        if writer.file_len() + len as u64 > 96 << 10 {
            break;
        }
        // Bytes that stop WriteBatch decoding at once (an unknown tag):
        // decoding is the other target's job, and long runs of valid
        // operations would only slow this one down.
        writer.add_record(&vec![0xe0 | i as u8; len]).unwrap();
    }
    writer.close().unwrap();
    let mut log = lsmkit_base::fs::read_file_to_vec(&fs, path).unwrap();
    if log.is_empty() {
        return log;
    }
    // Up to three flips of (position: 3 bytes, xor: 1 byte), then a cut.
    for edit in edits.chunks_exact(4).take(3) {
        let position = usize::from(edit[0]) | usize::from(edit[1]) << 8 | usize::from(edit[2]) << 16;
        let len = log.len();
        log[position % len] ^= edit[3];
    }
    if control & 0x40 != 0 {
        let cut = edits.get(12..16).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        log.truncate(cut % (log.len() + 1));
    }
    log
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let built;
    let log = if control & 0x80 != 0 {
        built = damaged_log(control, rest);
        &built[..]
    } else {
        rest
    };
    let limit = log.len() / 7 + 1;
    for mode in RecoveryMode::ALL {
        // The whole file at once.
        let fs = MemFs::new();
        let path = Path::new("fuzz.log");
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        file.append(log).unwrap();
        let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode);
        let mut whole = Vec::new();
        let whole_result = drain(&mut reader, limit, &mut whole);
        for region in reader.dropped_regions() {
            assert!(region.offset + region.bytes <= log.len() as u64, "{region} outside the file");
        }

        // The same bytes arriving in two pieces, read by a following reader.
        let split_seed = usize::from(*input.last().unwrap_or(&0)) << 8 | usize::from(control);
        let split = split_seed * 7919 % (log.len() + 1);
        let path = Path::new("growing.log");
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        file.append(&log[..split]).unwrap();
        let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode).with_follow_tail(true);
        let mut followed = Vec::new();
        let mut result = drain(&mut reader, limit, &mut followed);
        if result.is_ok() {
            file.append(&log[split..]).unwrap();
            result = drain(&mut reader, limit, &mut followed);
        }
        if result.is_ok() {
            reader.set_follow_tail(false);
            result = drain(&mut reader, limit, &mut followed);
        }
        assert_eq!(whole, followed, "{mode:?}: reading in pieces changed the records");
        assert_eq!(whole_result.is_ok(), result.is_ok(), "{mode:?}: {whole_result:?} vs {result:?}");
    }
});
