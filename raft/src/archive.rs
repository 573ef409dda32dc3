//! The snapshot archive: a state-machine checkpoint (a directory of
//! database files) packed into one file, so that openraft can stream a
//! snapshot as a plain file (docs/raft.md, "Snapshot archive format").
//!
//! # Format
//!
//! Every integer is little-endian.
//!
//! | field | size | meaning |
//! |---|---|---|
//! | magic | 8 | `LKRSNAP1` |
//! | header length `h` | 4 | at most [`MAX_HEADER_BYTES`] |
//! | header | `h` | opaque to the archive (lsmkit-raft stores the snapshot's JSON `SnapshotMeta`) |
//! | header CRC | 4 | CRC-32C of the header bytes |
//! | file records | … | one per file, below |
//! | end mark | 2 | `0` (a name length of zero) |
//! | file count | 4 | the number of file records before it |
//!
//! A file record is: name length `n` (2 bytes, 1 to [`MAX_NAME_BYTES`]),
//! the name (`n` bytes of UTF-8: a plain file name, no `/`, `\`, NUL,
//! `.` or `..`), the data length `d` (8 bytes), the data (`d` bytes), and the
//! CRC-32C of the name bytes followed by the data bytes (4 bytes). Names
//! are unique within an archive. Nothing may follow the file count.
//!
//! An archive comes from another node, so [`unpack`] treats it as
//! untrusted: any deviation from the format (bad magic, a length past the
//! end of the file, a bad name, a duplicate, a CRC mismatch, a missing end
//! mark, trailing bytes) is an [`Error::Corruption`] naming the archive and
//! the offset, and never a panic.
//!
//! ```
//! use lsmkit_raft::archive;
//! use lsmkit_raft::StdFs;
//!
//! let tmp = tempfile::tempdir()?;
//! let src = tmp.path().join("src");
//! std::fs::create_dir(&src)?;
//! std::fs::write(src.join("CURRENT"), b"MANIFEST-000001\n")?;
//! std::fs::write(src.join("000003.log"), vec![7u8; 100_000])?;
//! let fs = StdFs::new();
//! archive::pack(&fs, &src, b"header", &tmp.path().join("snap"))?;
//! assert_eq!(archive::read_header(&fs, &tmp.path().join("snap"))?, b"header");
//! let header = archive::unpack(&fs, &tmp.path().join("snap"), &tmp.path().join("dst"))?;
//! assert_eq!(header, b"header");
//! assert_eq!(std::fs::read(tmp.path().join("dst/000003.log"))?, vec![7u8; 100_000]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::path::Path;

use lsmkit_base::fs::{FileSystem, SequentialFile, WriteMode};

use crate::{Error, Result};

/// The first eight bytes of every archive.
pub const MAGIC: &[u8; 8] = b"LKRSNAP1";
/// The largest header an archive may have.
pub const MAX_HEADER_BYTES: u32 = 16 << 20;
/// The longest file name an archive may hold.
pub const MAX_NAME_BYTES: u16 = 255;
/// Bytes moved per read while packing and unpacking.
const CHUNK_BYTES: usize = 64 << 10;

/// Whether `name` may be a file name in an archive.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= usize::from(MAX_NAME_BYTES)
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
}

/// Packs every file of `src_dir` (which must hold only files) into a new
/// archive at `out` with `header`, syncs it and closes it. Returns the
/// archive's length. On failure, `out` is removed.
pub fn pack(fs: &dyn FileSystem, src_dir: &Path, header: &[u8], out: &Path) -> Result<u64> {
    let result = pack_inner(fs, src_dir, header, out);
    if result.is_err() {
        let _ = fs.remove_file(out);
    }
    result
}

fn pack_inner(fs: &dyn FileSystem, src_dir: &Path, header: &[u8], out: &Path) -> Result<u64> {
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|&len| len <= MAX_HEADER_BYTES)
        .ok_or_else(|| Error::InvalidArgument(format!("archive header of {} bytes", header.len())))?;
    let mut names = fs.list_dir(src_dir)?;
    names.sort();
    let mut file = fs.create_writable(out, WriteMode::Buffered)?;
    file.append(MAGIC)?;
    file.append(&header_len.to_le_bytes())?;
    file.append(header)?;
    file.append(&crc32c::crc32c(header).to_le_bytes())?;
    let mut buf = vec![0u8; CHUNK_BYTES];
    for name in &names {
        if !valid_name(name) {
            return Err(Error::InvalidArgument(format!("cannot archive file name {name:?}")));
        }
        let path = src_dir.join(name);
        if fs.list_dir(&path).is_ok() {
            return Err(Error::InvalidArgument(format!("{}: cannot archive a directory", path.display())));
        }
        let len = fs.file_size(&path)?;
        // The name length fits: valid_name bounds it by MAX_NAME_BYTES.
        file.append(&(name.len() as u16).to_le_bytes())?;
        file.append(name.as_bytes())?;
        file.append(&len.to_le_bytes())?;
        let mut crc = crc32c::crc32c(name.as_bytes());
        let mut src = fs.open_sequential(&path)?;
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(CHUNK_BYTES).min(CHUNK_BYTES);
            let n = src.read(&mut buf[..want])?;
            if n == 0 {
                return Err(Error::io(
                    "read",
                    &path,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shrank while being archived",
                    ),
                ));
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            file.append(&buf[..n])?;
            left -= n as u64;
        }
        file.append(&crc.to_le_bytes())?;
    }
    file.append(&0u16.to_le_bytes())?;
    let count = u32::try_from(names.len())
        .map_err(|_| Error::InvalidArgument(format!("{} files in one archive", names.len())))?;
    file.append(&count.to_le_bytes())?;
    file.sync()?;
    let len = file.len();
    file.close()?;
    Ok(len)
}

/// Reads an archive from the front, keeping the offset for error reports.
struct Reader<'a> {
    file: Box<dyn SequentialFile>,
    path: &'a Path,
    offset: u64,
    len: u64,
}

impl<'a> Reader<'a> {
    fn open(fs: &dyn FileSystem, path: &'a Path) -> Result<Reader<'a>> {
        let len = fs.file_size(path)?;
        Ok(Reader { file: fs.open_sequential(path)?, path, offset: 0, len })
    }

    fn corrupt(&self, at: u64, message: impl Into<String>) -> Error {
        Error::corruption_at(self.path, at, message)
    }

    /// Fills `buf` or fails with a corruption (the archive ends early).
    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let start = self.offset;
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.file.read(&mut buf[filled..])?;
            if n == 0 {
                return Err(self.corrupt(start, format!("snapshot archive ends inside the {what}")));
            }
            filled += n;
            self.offset += n as u64;
        }
        Ok(())
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_exact(&mut b, what)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.offset)
    }

    /// Magic, header and header CRC.
    fn header(&mut self) -> Result<Vec<u8>> {
        let mut magic = [0u8; 8];
        self.read_exact(&mut magic, "magic")?;
        if &magic != MAGIC {
            return Err(self.corrupt(0, "not a snapshot archive (bad magic)"));
        }
        let at = self.offset;
        let len = self.u32("header length")?;
        if len > MAX_HEADER_BYTES || u64::from(len) > self.remaining() {
            return Err(self.corrupt(at, format!("snapshot archive header length {len} is too large")));
        }
        let mut header = vec![0u8; len as usize];
        self.read_exact(&mut header, "header")?;
        let at = self.offset;
        let crc = self.u32("header checksum")?;
        if crc != crc32c::crc32c(&header) {
            return Err(self.corrupt(at, "snapshot archive header checksum mismatch"));
        }
        Ok(header)
    }
}

/// Reads and checks an archive's header (magic, length, CRC) without
/// reading the files.
pub fn read_header(fs: &dyn FileSystem, archive: &Path) -> Result<Vec<u8>> {
    Reader::open(fs, archive)?.header()
}

/// Unpacks `archive` into the directory `dest`, which must not exist yet:
/// every file is written and synced, then `dest` is synced. Returns the
/// header. A malformed archive gives [`Error::Corruption`] with the
/// archive's path and the offset of the bad field; on any failure `dest` is
/// removed again.
pub fn unpack(fs: &dyn FileSystem, archive: &Path, dest: &Path) -> Result<Vec<u8>> {
    if fs.exists(dest) {
        return Err(Error::InvalidArgument(format!("{}: unpacking needs a new directory", dest.display())));
    }
    let result = unpack_inner(fs, archive, dest);
    if result.is_err() {
        let _ = remove_tree(fs, dest);
    }
    result
}

fn unpack_inner(fs: &dyn FileSystem, archive: &Path, dest: &Path) -> Result<Vec<u8>> {
    let mut reader = Reader::open(fs, archive)?;
    let header = reader.header()?;
    fs.create_dir_all(dest)?;
    let mut seen = HashSet::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let record_at = reader.offset;
        let name_len = reader.u16("file name length")?;
        if name_len == 0 {
            break;
        }
        if name_len > MAX_NAME_BYTES {
            return Err(reader.corrupt(record_at, format!("file name length {name_len} is too large")));
        }
        let mut name = vec![0u8; usize::from(name_len)];
        reader.read_exact(&mut name, "file name")?;
        let name = match String::from_utf8(name) {
            Ok(name) if valid_name(&name) => name,
            _ => return Err(reader.corrupt(record_at + 2, "invalid file name in snapshot archive")),
        };
        if !seen.insert(name.clone()) {
            return Err(reader.corrupt(record_at + 2, format!("file {name:?} appears twice")));
        }
        let at = reader.offset;
        let data_len = reader.u64("file length")?;
        // Data and its CRC must fit in what is left of the archive.
        if data_len > reader.remaining().saturating_sub(4) {
            return Err(reader.corrupt(at, format!("file {name:?} of {data_len} bytes runs past the end")));
        }
        let path = dest.join(&name);
        let mut out = fs.create_writable(&path, WriteMode::Buffered)?;
        let mut crc = crc32c::crc32c(name.as_bytes());
        let mut left = data_len;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(CHUNK_BYTES).min(CHUNK_BYTES);
            reader.read_exact(&mut buf[..n], "file data")?;
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            out.append(&buf[..n])?;
            left -= n as u64;
        }
        let at = reader.offset;
        if reader.u32("file checksum")? != crc {
            return Err(reader.corrupt(at, format!("checksum mismatch for file {name:?}")));
        }
        out.sync()?;
        out.close()?;
    }
    let at = reader.offset;
    let count = reader.u32("file count")?;
    if count as usize != seen.len() {
        return Err(reader.corrupt(at, format!("file count {count}, but {} files precede it", seen.len())));
    }
    if reader.remaining() != 0 {
        return Err(reader.corrupt(reader.offset, "bytes after the end of the snapshot archive"));
    }
    fs.sync_dir(dest)?;
    Ok(header)
}

/// Removes `path`: a file, or a directory with everything in it.
///
/// A directory is synced before it is emptied, so that no rename inside it
/// is still pending when it goes. That costs one directory sync, and keeps
/// lsmkit's `FaultFs` (whose crash undoes pending renames, and cannot
/// recreate a file in a directory removed since) able to simulate a crash
/// after any removal.
pub(crate) fn remove_tree(fs: &dyn FileSystem, path: &Path) -> Result<()> {
    match fs.list_dir(path) {
        Ok(names) => {
            let _ = fs.sync_dir(path);
            for name in names {
                remove_tree(fs, &path.join(name))?;
            }
            fs.remove_dir(path)
        }
        Err(_) => fs.remove_file(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::fs::StdFs;

    fn sample(dir: &Path) -> (StdFs, std::path::PathBuf) {
        let src = dir.join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("a"), b"alpha").unwrap();
        std::fs::write(src.join("b.ldb"), vec![3u8; 70_000]).unwrap();
        std::fs::write(src.join("empty"), b"").unwrap();
        let fs = StdFs::new();
        let out = dir.join("archive");
        pack(&fs, &src, b"{\"meta\":1}", &out).unwrap();
        (fs, out)
    }

    #[test]
    fn round_trip_keeps_every_file() {
        let tmp = tempfile::tempdir().unwrap();
        let (fs, out) = sample(tmp.path());
        let dest = tmp.path().join("dest");
        assert_eq!(unpack(&fs, &out, &dest).unwrap(), b"{\"meta\":1}");
        let mut names = fs.list_dir(&dest).unwrap();
        names.sort();
        assert_eq!(names, ["a", "b.ldb", "empty"]);
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"alpha");
        assert_eq!(std::fs::read(dest.join("b.ldb")).unwrap(), vec![3u8; 70_000]);
        assert!(std::fs::read(dest.join("empty")).unwrap().is_empty());
    }

    /// Every truncation and every single-byte change of an archive is
    /// rejected as a corruption (never a panic), and leaves no directory.
    #[test]
    fn damaged_archives_are_corruptions() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("x"), b"0123456789").unwrap();
        std::fs::write(src.join("y"), b"abc").unwrap();
        let fs = StdFs::new();
        let good_path = tmp.path().join("good");
        pack(&fs, &src, b"hdr", &good_path).unwrap();
        let good = std::fs::read(&good_path).unwrap();
        let bad = tmp.path().join("bad");
        let dest = tmp.path().join("dest");
        let check = |bytes: &[u8], what: &str| {
            std::fs::write(&bad, bytes).unwrap();
            match unpack(&fs, &bad, &dest) {
                Err(Error::Corruption { file, offset, .. }) => {
                    assert_eq!(file.as_deref(), Some(bad.as_path()), "{what}");
                    assert!(offset.is_some(), "{what}");
                }
                other => panic!("{what}: expected a corruption, got {other:?}"),
            }
            assert!(!dest.exists(), "{what}: the partial directory was left behind");
        };
        for len in 0..good.len() {
            check(&good[..len], &format!("truncated to {len}"));
        }
        for i in 0..good.len() {
            let mut bytes = good.clone();
            bytes[i] ^= 0x40;
            // A flipped bit in a name may still give a valid, different
            // name: its CRC then fails. Every byte is covered by a check.
            check(&bytes, &format!("byte {i} changed"));
        }
        let mut longer = good.clone();
        longer.push(0);
        check(&longer, "trailing byte");
    }

    #[test]
    fn hostile_names_and_lengths_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = StdFs::new();
        let header = b"h";
        let mut base = MAGIC.to_vec();
        base.extend_from_slice(&(header.len() as u32).to_le_bytes());
        base.extend_from_slice(header);
        base.extend_from_slice(&crc32c::crc32c(header).to_le_bytes());
        let record = |name: &[u8], len: u64| {
            let mut b = base.clone();
            b.extend_from_slice(&(name.len() as u16).to_le_bytes());
            b.extend_from_slice(name);
            b.extend_from_slice(&len.to_le_bytes());
            b
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("parent name", record(b"..", 0)),
            ("path name", record(b"../escape", 0)),
            ("absolute name", record(b"/etc/x", 0)),
            ("huge length", record(b"f", u64::MAX)),
            ("non-utf8 name", record(&[0xff, 0xfe], 0)),
        ];
        for (what, bytes) in cases {
            let path = tmp.path().join("hostile");
            std::fs::write(&path, &bytes).unwrap();
            let err = unpack(&fs, &path, &tmp.path().join("out")).unwrap_err();
            assert!(matches!(err, Error::Corruption { .. }), "{what}: {err}");
            assert!(!tmp.path().join("out").exists());
            assert!(!tmp.path().join("escape").exists());
        }
        // A header length past the end of the file.
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        let path = tmp.path().join("hostile");
        std::fs::write(&path, &b).unwrap();
        assert!(matches!(read_header(&fs, &path), Err(Error::Corruption { .. })));
    }
}
