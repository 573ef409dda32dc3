//! The `CURRENT` file: which MANIFEST is live (docs/format.md §10.3).
//!
//! Its content is the MANIFEST's file name and one `\n`. It is replaced
//! atomically: the text goes to `NNNNNN.dbtmp`, which is synced and renamed
//! over `CURRENT`, and then the directory is synced so the rename itself is
//! durable (LevelDB 1.23 skips that last step; we do not).
//!
//! ```text
//! CURRENT:       4d 41 4e 49 46 45 53 54 2d 30 30 30 30 30 32 0a   "MANIFEST-000002\n"
//! switching:     write NNNNNN.dbtmp -> sync -> rename over CURRENT -> sync the directory
//! ```

use std::path::Path;

use lsmkit_base::filename::{
    current_file_name, manifest_file_name, parse_file_name, temp_file_name, FileType,
};
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem};
use lsmkit_base::{Error, Result};

/// Reads `dir/CURRENT` and returns the MANIFEST file name it holds and that
/// file's number.
///
/// Errors (all `Corruption`, naming `CURRENT`): the file is missing ("CURRENT
/// file missing"), does not end with a newline (LevelDB's "CURRENT file does
/// not end with newline"), or does not hold a MANIFEST file name. Other I/O
/// errors are returned as they are.
pub fn read_current_file(fs: &dyn FileSystem, dir: &Path) -> Result<(String, u64)> {
    let path = current_file_name(dir);
    let contents = match read_file_to_vec(fs, &path) {
        Ok(contents) => contents,
        Err(e) if e.is_not_found() => {
            return Err(
                Error::corruption("CURRENT file missing: no database here, or it was damaged").in_file(path)
            );
        }
        Err(e) => return Err(e),
    };
    let Some(name) = contents.strip_suffix(b"\n") else {
        return Err(Error::corruption_at(
            path,
            contents.len() as u64,
            "CURRENT file does not end with newline",
        ));
    };
    let manifest = std::str::from_utf8(name).ok().and_then(|name| match parse_file_name(name) {
        Some((number, FileType::Manifest)) => Some((name.to_string(), number)),
        _ => None,
    });
    manifest.ok_or_else(|| {
        let shown: Vec<u8> = name.iter().copied().take(64).collect();
        Error::corruption(format!(
            "CURRENT holds '{}', which is not a MANIFEST file name",
            shown.escape_ascii()
        ))
        .in_file(path)
        .at_offset(0)
    })
}

/// How far [`switch_current_file`] got before it failed.
#[derive(Debug)]
pub(crate) enum SwitchError {
    /// CURRENT still names the old MANIFEST (the temporary file is removed).
    BeforeRename(Error),
    /// CURRENT was renamed but the directory sync failed: after a crash it
    /// may name either MANIFEST, so neither may be deleted.
    AfterRename(Error),
}

/// Points `dir/CURRENT` at `MANIFEST-<manifest_number>`: writes and syncs
/// `NNNNNN.dbtmp`, renames it over `CURRENT`, then syncs the directory.
pub fn set_current_file(fs: &dyn FileSystem, dir: &Path, manifest_number: u64) -> Result<()> {
    switch_current_file(fs, dir, manifest_number).map_err(|e| match e {
        SwitchError::BeforeRename(e) | SwitchError::AfterRename(e) => e,
    })
}

/// [`set_current_file`], telling whether the rename happened when it fails.
pub(crate) fn switch_current_file(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest_number: u64,
) -> Result<(), SwitchError> {
    let manifest = manifest_file_name(dir, manifest_number);
    let name = manifest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let contents = format!("{name}\n");
    let temp = temp_file_name(dir, manifest_number);
    let staged = write_file(fs, &temp, contents.as_bytes(), true)
        .and_then(|()| fs.rename(&temp, &current_file_name(dir)));
    if let Err(e) = staged {
        // Best effort: the error that matters is the one returned.
        let _ = fs.remove_file(&temp);
        return Err(SwitchError::BeforeRename(e));
    }
    fs.sync_dir(dir).map_err(SwitchError::AfterRename)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::fs::MemFs;

    fn message(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn round_trip_and_exact_bytes() {
        let fs = MemFs::new();
        let dir = Path::new("db");
        fs.create_dir_all(dir).unwrap();
        set_current_file(&fs, dir, 2).unwrap();
        assert_eq!(read_file_to_vec(&fs, &current_file_name(dir)).unwrap(), b"MANIFEST-000002\n");
        assert!(!fs.exists(&temp_file_name(dir, 2)));
        assert_eq!(read_current_file(&fs, dir).unwrap(), ("MANIFEST-000002".to_string(), 2));
        set_current_file(&fs, dir, 1234567).unwrap();
        assert_eq!(read_current_file(&fs, dir).unwrap(), ("MANIFEST-1234567".to_string(), 1234567));
    }

    #[test]
    fn bad_current_files_are_corruption() {
        let fs = MemFs::new();
        let dir = Path::new("db");
        fs.create_dir_all(dir).unwrap();
        let err = read_current_file(&fs, dir).unwrap_err();
        assert!(err.is_corruption() && message(err).contains("CURRENT file missing"));
        // Each with the offset where the problem is: the end of the file for
        // a missing newline, the start of the name for a bad name.
        let cases: [(&[u8], &str, u64); 6] = [
            (b"", "does not end with newline", 0),
            (b"MANIFEST-000002", "does not end with newline", 15),
            (b"\n", "not a MANIFEST file name", 0),
            (b"000002.log\n", "not a MANIFEST file name", 0),
            (b"../MANIFEST-000002\n", "not a MANIFEST file name", 0),
            (b"MANIFEST-000002\n\n", "not a MANIFEST file name", 0),
        ];
        for (contents, expected, offset) in cases {
            write_file(&fs, &current_file_name(dir), contents, false).unwrap();
            let err = read_current_file(&fs, dir).unwrap_err();
            assert!(err.is_corruption(), "{err}");
            assert!(message(err.clone()).contains(expected), "{contents:?}: {err}");
            assert!(message(err).ends_with(&format!("(in db/CURRENT at offset {offset})")), "{contents:?}");
        }
    }
}
