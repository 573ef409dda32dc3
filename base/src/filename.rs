//! Names of the files in a database directory (docs/format.md §10.4).
//!
//! Numbers are printed zero-padded to at least six digits; parsing accepts
//! any run of decimal digits, exactly as LevelDB 1.23 does, and ignores every
//! name it does not know.

use std::path::{Path, PathBuf};

/// What a file in a database directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// `NNNNNN.log`: a write-ahead log.
    Log,
    /// `NNNNNN.ldb` or legacy `NNNNNN.sst`: a table.
    Table,
    /// `MANIFEST-NNNNNN`: a descriptor (log of VersionEdits).
    Manifest,
    /// `CURRENT`: the name of the live MANIFEST.
    Current,
    /// `LOCK`: held while a process has the database open.
    Lock,
    /// `LOG` or `LOG.old`: the human-readable info log.
    InfoLog,
    /// `NNNNNN.dbtmp`: a temporary file (CURRENT staging).
    Temp,
}

fn numbered(dir: &Path, number: u64, suffix: &str) -> PathBuf {
    dir.join(format!("{number:06}.{suffix}"))
}

/// `dir/NNNNNN.log`.
pub fn log_file_name(dir: &Path, number: u64) -> PathBuf {
    numbered(dir, number, "log")
}

/// `dir/NNNNNN.ldb`, the name tables are written with.
pub fn table_file_name(dir: &Path, number: u64) -> PathBuf {
    numbered(dir, number, "ldb")
}

/// `dir/NNNNNN.sst`, the legacy table name, tried when the `.ldb` name is missing.
pub fn legacy_table_file_name(dir: &Path, number: u64) -> PathBuf {
    numbered(dir, number, "sst")
}

/// `dir/MANIFEST-NNNNNN`.
pub fn manifest_file_name(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("MANIFEST-{number:06}"))
}

/// `dir/CURRENT`.
pub fn current_file_name(dir: &Path) -> PathBuf {
    dir.join("CURRENT")
}

/// `dir/LOCK`.
pub fn lock_file_name(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

/// `dir/NNNNNN.dbtmp`.
pub fn temp_file_name(dir: &Path, number: u64) -> PathBuf {
    numbered(dir, number, "dbtmp")
}

/// `dir/LOG`.
pub fn info_log_file_name(dir: &Path) -> PathBuf {
    dir.join("LOG")
}

/// `dir/LOG.old`.
pub fn old_info_log_file_name(dir: &Path) -> PathBuf {
    dir.join("LOG.old")
}

fn parse_number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Parses a file name (no directory part) into its number and type; names
/// LevelDB would ignore give `None`. Unnumbered files get number 0.
///
/// ```
/// use lsmkit_base::filename::{parse_file_name, FileType};
/// assert_eq!(parse_file_name("000005.ldb"), Some((5, FileType::Table)));
/// assert_eq!(parse_file_name("MANIFEST-1234567"), Some((1234567, FileType::Manifest)));
/// assert_eq!(parse_file_name("5.ldb.bak"), None);
/// ```
pub fn parse_file_name(name: &str) -> Option<(u64, FileType)> {
    match name {
        "CURRENT" => return Some((0, FileType::Current)),
        "LOCK" => return Some((0, FileType::Lock)),
        "LOG" | "LOG.old" => return Some((0, FileType::InfoLog)),
        _ => {}
    }
    if let Some(rest) = name.strip_prefix("MANIFEST-") {
        return parse_number(rest).map(|n| (n, FileType::Manifest));
    }
    let (digits, suffix) = name.split_once('.')?;
    let file_type = match suffix {
        "log" => FileType::Log,
        "ldb" | "sst" => FileType::Table,
        "dbtmp" => FileType::Temp,
        _ => return None,
    };
    parse_number(digits).map(|n| (n, file_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_padded_to_six_digits() {
        let dir = Path::new("db");
        assert_eq!(log_file_name(dir, 3), Path::new("db/000003.log"));
        assert_eq!(table_file_name(dir, 1234567), Path::new("db/1234567.ldb"));
        assert_eq!(legacy_table_file_name(dir, 5), Path::new("db/000005.sst"));
        assert_eq!(manifest_file_name(dir, 2), Path::new("db/MANIFEST-000002"));
        assert_eq!(temp_file_name(dir, 2), Path::new("db/000002.dbtmp"));
        assert_eq!(current_file_name(dir), Path::new("db/CURRENT"));
        assert_eq!(lock_file_name(dir), Path::new("db/LOCK"));
    }

    #[test]
    fn parsing_follows_leveldb() {
        assert_eq!(parse_file_name("100.log"), Some((100, FileType::Log)));
        assert_eq!(parse_file_name("0.log"), Some((0, FileType::Log)));
        assert_eq!(parse_file_name("000005.sst"), Some((5, FileType::Table)));
        assert_eq!(parse_file_name("000002.dbtmp"), Some((2, FileType::Temp)));
        assert_eq!(parse_file_name("LOG.old"), Some((0, FileType::InfoLog)));
        assert_eq!(parse_file_name("18446744073709551615.log"), Some((u64::MAX, FileType::Log)));
        for ignored in [
            "",
            "foo",
            "foo-dx-100.log",
            ".log",
            "manifest",
            "CURREN",
            "CURRENTX",
            "MANIFES",
            "MANIFEST",
            "MANIFEST-",
            "XMANIFEST-3",
            "MANIFEST-3x",
            "LOC",
            "LOCKx",
            "LO",
            "LOGx",
            "18446744073709551616.log",
            "184467440737095516150.log",
            "100",
            "100.",
            "100.lop",
            "-1.log",
            "+1.log",
        ] {
            assert_eq!(parse_file_name(ignored), None, "{ignored:?}");
        }
    }
}
