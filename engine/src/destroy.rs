//! [`Db::destroy`]: deletes a database (LevelDB's `DestroyDB`): every file
//! of the directory whose name is a database file name (docs/format.md §10.4),
//! the logs kept in its `archive/` subdirectory by WAL retention (as
//! RocksDB's `DestroyDB` does), then the lock file and, if nothing else is
//! left in them, the archive and the directory.

use std::path::Path;

use lsmkit_base::filename::{lock_file_name, parse_file_name, FileType};
use lsmkit_base::Result;
use lsmkit_wal::wal_iterator::WAL_ARCHIVE_DIR_NAME;

use crate::db::Db;
use crate::options::Options;

impl Db {
    /// Deletes the database in `path`, through `options.fs`.
    ///
    /// The directory is locked first, so a database that is open (here or
    /// in another process, LevelDB included) is left alone and the call
    /// fails with `Error::Busy`. A missing directory is not an error.
    /// Archived logs (`archive/NNNNNN.log`, see `Options::wal_ttl`) are
    /// deleted too. Files whose names are not database file names (and
    /// other subdirectories, such as the `lost/` that [`Db::repair`] fills)
    /// are kept, and then so is the directory. Returns the first error met deleting a file; the
    /// other files are still deleted.
    pub fn destroy(path: impl AsRef<Path>, options: &Options) -> Result<()> {
        let dir = path.as_ref();
        let fs = &*options.fs;
        let names = match fs.list_dir(dir) {
            Ok(names) => names,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let lock_path = lock_file_name(dir);
        let lock = fs.lock_file(&lock_path)?;
        let mut result = Ok(());
        for name in &names {
            match parse_file_name(name) {
                None | Some((_, FileType::Lock)) => {}
                Some(_) => {
                    let removed = fs.remove_file(&dir.join(name));
                    if result.is_ok() {
                        result = removed;
                    }
                }
            }
        }
        let archive = dir.join(WAL_ARCHIVE_DIR_NAME);
        if names.iter().any(|n| n == WAL_ARCHIVE_DIR_NAME) {
            match fs.list_dir(&archive) {
                Ok(archived) => {
                    for name in &archived {
                        if let Some((_, FileType::Log)) = parse_file_name(name) {
                            let removed = fs.remove_file(&archive.join(name));
                            if result.is_ok() {
                                result = removed;
                            }
                        }
                    }
                    // Kept if it holds anything else, as the directory is.
                    let _ = fs.remove_dir(&archive);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
            }
        }
        drop(lock);
        // As in LevelDB, failing to remove the lock file or the directory
        // (it may hold other files) is not an error.
        let _ = fs.remove_file(&lock_path);
        let _ = fs.remove_dir(dir);
        result
    }
}
