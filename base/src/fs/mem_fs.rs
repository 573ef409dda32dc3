//! [`MemFs`]: a file system held entirely in memory, for fast tests
//! (docs/architecture.md, "The contracts in base").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use super::{
    normalize_path, FileLock, FileSystem, RandomAccessFile, ReadMode, SequentialFile, WritableFile, WriteMode,
};
use crate::error::{Error, Result};

/// The bytes of one in-memory file, shared by every name (hard link) and
/// every open handle of that file.
type Contents = Arc<RwLock<Vec<u8>>>;

/// A file system held entirely in memory.
///
/// Cloning a `MemFs` gives another handle to the same tree. Paths are
/// compared after lexical normalisation (`a/./b` is `a/b`); the relative root
/// (`""`, `"."`) and `/` always exist, and any other directory must be made
/// with [`FileSystem::create_dir_all`] before files are created in it.
///
/// Files behave like POSIX inodes:
/// - appends are visible at once to every reader (there is no write buffer),
///   and a sequential reader sees bytes appended after it was opened;
///   a random-access file reports the length it had when opened and never
///   reads past it;
/// - [`FileSystem::hard_link`] makes a second name for the *same* bytes, so a
///   later write through one name shows through the other;
/// - `create_writable` on an existing name truncates those shared bytes, and
///   removing or renaming a name leaves open handles working on the bytes;
/// - `flush`, `sync` and `sync_dir` have nothing to do; [`WriteMode::Mmap`]
///   behaves as buffered and [`ReadMode::Mmap`] as positional.
///
/// [`FileSystem::lock_file`] excludes every other lock of the same path taken
/// through any clone of this `MemFs` until the first lock is dropped.
#[derive(Clone, Default)]
pub struct MemFs {
    tree: Arc<Mutex<Tree>>,
}

/// The directory tree.
#[derive(Default)]
struct Tree {
    /// Directories other than the two roots, normalised.
    dirs: BTreeSet<PathBuf>,
    /// Files by normalised path.
    files: BTreeMap<PathBuf, Contents>,
    /// Normalised paths currently locked.
    locks: BTreeSet<PathBuf>,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    fn tree(&self) -> MutexGuard<'_, Tree> {
        // Every operation leaves the tree consistent, so a panic elsewhere
        // does not make it unusable.
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tree = self.tree();
        f.debug_struct("MemFs")
            .field("dirs", &tree.dirs.len())
            .field("files", &tree.files.len())
            .field("locks", &tree.locks)
            .finish()
    }
}

fn read_lock(contents: &Contents) -> RwLockReadGuard<'_, Vec<u8>> {
    contents.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock(contents: &Contents) -> RwLockWriteGuard<'_, Vec<u8>> {
    contents.write().unwrap_or_else(PoisonError::into_inner)
}

fn fs_error(op: &'static str, path: &Path, kind: io::ErrorKind, message: &str) -> Error {
    Error::io(op, path, io::Error::new(kind, message.to_string()))
}

fn not_found(op: &'static str, path: &Path) -> Error {
    fs_error(op, path, io::ErrorKind::NotFound, "no such file or directory")
}

impl Tree {
    fn is_dir(&self, path: &Path) -> bool {
        path.as_os_str().is_empty() || path == Path::new("/") || self.dirs.contains(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.is_dir(path) || self.files.contains_key(path)
    }

    /// Fails unless the directory that would hold `path` exists.
    fn check_parent(&self, op: &'static str, shown: &Path, path: &Path) -> Result<()> {
        let Some(parent) = path.parent() else {
            return Err(fs_error(op, shown, io::ErrorKind::InvalidInput, "path names a root"));
        };
        if self.is_dir(parent) {
            Ok(())
        } else if self.files.contains_key(parent) {
            Err(fs_error(op, shown, io::ErrorKind::NotADirectory, "parent is not a directory"))
        } else {
            Err(not_found(op, shown))
        }
    }

    /// The file at `path`, or the error for a directory or a missing name.
    fn file(&self, op: &'static str, shown: &Path, path: &Path) -> Result<&Contents> {
        match self.files.get(path) {
            Some(contents) => Ok(contents),
            None if self.is_dir(path) => {
                Err(fs_error(op, shown, io::ErrorKind::IsADirectory, "is a directory"))
            }
            None => Err(not_found(op, shown)),
        }
    }

    /// The existing file at `path`, or a new empty one.
    fn open_or_create(&mut self, op: &'static str, shown: &Path, path: &Path) -> Result<Contents> {
        if let Some(contents) = self.files.get(path) {
            return Ok(Arc::clone(contents));
        }
        if self.is_dir(path) {
            return Err(fs_error(op, shown, io::ErrorKind::IsADirectory, "is a directory"));
        }
        self.check_parent(op, shown, path)?;
        let contents = Contents::default();
        self.files.insert(path.to_path_buf(), Arc::clone(&contents));
        Ok(contents)
    }

    fn is_empty_dir(&self, dir: &Path) -> bool {
        let child_of_dir = |p: &&PathBuf| p.parent() == Some(dir);
        !self.files.keys().any(|p| child_of_dir(&p)) && !self.dirs.iter().any(|p| child_of_dir(&p))
    }

    fn rename_file(&mut self, from: &Path, to: &Path, shown: &Path) -> Result<()> {
        if self.is_dir(to) {
            return Err(fs_error("rename", shown, io::ErrorKind::IsADirectory, "target is a directory"));
        }
        self.check_parent("rename", shown, to)?;
        if let Some(contents) = self.files.remove(from) {
            self.files.insert(to.to_path_buf(), contents);
        }
        Ok(())
    }

    fn rename_dir(&mut self, from: &Path, to: &Path, shown: &Path) -> Result<()> {
        if to.starts_with(from) {
            return Err(fs_error(
                "rename",
                shown,
                io::ErrorKind::InvalidInput,
                "target is inside the source",
            ));
        }
        if self.files.contains_key(to) {
            return Err(fs_error("rename", shown, io::ErrorKind::NotADirectory, "target is a file"));
        }
        if self.is_dir(to) && !self.is_empty_dir(to) {
            return Err(fs_error("rename", shown, io::ErrorKind::DirectoryNotEmpty, "target is not empty"));
        }
        self.check_parent("rename", shown, to)?;
        let moved = |p: &Path| -> Option<PathBuf> { p.strip_prefix(from).ok().map(|rest| to.join(rest)) };
        let dirs: Vec<PathBuf> = self.dirs.iter().filter(|p| p.starts_with(from)).cloned().collect();
        for dir in dirs {
            self.dirs.remove(&dir);
            if let Some(new) = moved(&dir) {
                self.dirs.insert(new);
            }
        }
        let files: Vec<PathBuf> = self.files.keys().filter(|p| p.starts_with(from)).cloned().collect();
        for file in files {
            if let (Some(contents), Some(new)) = (self.files.remove(&file), moved(&file)) {
                self.files.insert(new, contents);
            }
        }
        Ok(())
    }
}

impl FileSystem for MemFs {
    fn open_sequential(&self, path: &Path) -> Result<Box<dyn SequentialFile>> {
        let tree = self.tree();
        let contents = Arc::clone(tree.file("open", path, &normalize_path(path))?);
        Ok(Box::new(MemSequentialFile { contents, position: 0 }))
    }

    fn open_random_access(&self, path: &Path, _mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>> {
        let tree = self.tree();
        let contents = Arc::clone(tree.file("open", path, &normalize_path(path))?);
        let len = read_lock(&contents).len() as u64;
        Ok(Arc::new(MemRandomAccessFile { contents, len }))
    }

    fn create_writable(&self, path: &Path, mode: WriteMode) -> Result<Box<dyn WritableFile>> {
        if let WriteMode::Mmap { chunk_size: 0 } = mode {
            return Err(Error::InvalidArgument("mmap write chunk_size must be positive".into()));
        }
        let mut tree = self.tree();
        let contents = tree.open_or_create("create", path, &normalize_path(path))?;
        write_lock(&contents).clear();
        Ok(Box::new(MemWritableFile::new(path, contents, 0, false)))
    }

    fn open_appendable(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let mut tree = self.tree();
        let contents = tree.open_or_create("open", path, &normalize_path(path))?;
        let len = read_lock(&contents).len() as u64;
        Ok(Box::new(MemWritableFile::new(path, contents, len, true)))
    }

    fn exists(&self, path: &Path) -> bool {
        self.tree().exists(&normalize_path(path))
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        let tree = self.tree();
        let norm = normalize_path(dir);
        if !tree.is_dir(&norm) {
            return Err(if tree.files.contains_key(&norm) {
                fs_error("list", dir, io::ErrorKind::NotADirectory, "not a directory")
            } else {
                not_found("list", dir)
            });
        }
        let names = tree
            .dirs
            .iter()
            .chain(tree.files.keys())
            .filter(|p| p.parent() == Some(norm.as_path()))
            .filter_map(|p| p.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        Ok(names)
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let mut tree = self.tree();
        let norm = normalize_path(path);
        tree.file("remove", path, &norm)?;
        tree.files.remove(&norm);
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut tree = self.tree();
        let norm = normalize_path(dir);
        let mut missing = Vec::new();
        for ancestor in norm.ancestors() {
            if tree.is_dir(ancestor) {
                break;
            }
            if tree.files.contains_key(ancestor) {
                let kind = if ancestor == norm {
                    io::ErrorKind::AlreadyExists
                } else {
                    io::ErrorKind::NotADirectory
                };
                return Err(fs_error("create_dir", dir, kind, "a file is in the way"));
            }
            missing.push(ancestor.to_path_buf());
        }
        tree.dirs.extend(missing);
        Ok(())
    }

    fn remove_dir(&self, dir: &Path) -> Result<()> {
        let mut tree = self.tree();
        let norm = normalize_path(dir);
        if !tree.dirs.contains(&norm) {
            return Err(if tree.files.contains_key(&norm) {
                fs_error("remove_dir", dir, io::ErrorKind::NotADirectory, "not a directory")
            } else if tree.is_dir(&norm) {
                fs_error("remove_dir", dir, io::ErrorKind::PermissionDenied, "cannot remove a root")
            } else {
                not_found("remove_dir", dir)
            });
        }
        if !tree.is_empty_dir(&norm) {
            return Err(fs_error("remove_dir", dir, io::ErrorKind::DirectoryNotEmpty, "directory not empty"));
        }
        tree.dirs.remove(&norm);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut tree = self.tree();
        let (from_norm, to_norm) = (normalize_path(from), normalize_path(to));
        if tree.files.contains_key(&from_norm) {
            tree.rename_file(&from_norm, &to_norm, from)
        } else if tree.dirs.contains(&from_norm) {
            tree.rename_dir(&from_norm, &to_norm, from)
        } else {
            Err(not_found("rename", from))
        }
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        let mut tree = self.tree();
        let to_norm = normalize_path(to);
        let contents = Arc::clone(tree.file("link", from, &normalize_path(from))?);
        if tree.exists(&to_norm) {
            return Err(fs_error("link", to, io::ErrorKind::AlreadyExists, "target exists"));
        }
        tree.check_parent("link", to, &to_norm)?;
        tree.files.insert(to_norm, contents);
        Ok(())
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        let tree = self.tree();
        let contents = tree.file("stat", path, &normalize_path(path))?;
        let len = read_lock(contents).len() as u64;
        Ok(len)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let tree = self.tree();
        if tree.is_dir(&normalize_path(dir)) {
            Ok(())
        } else {
            Err(not_found("sync_dir", dir))
        }
    }

    fn lock_file(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let mut tree = self.tree();
        let norm = normalize_path(path);
        tree.open_or_create("lock", path, &norm)?;
        if !tree.locks.insert(norm.clone()) {
            return Err(Error::Busy(format!("lock {}: already held", path.display())));
        }
        Ok(Box::new(MemFileLock { tree: Arc::clone(&self.tree), path: norm }))
    }
}

/// A sequential reader over shared in-memory bytes.
struct MemSequentialFile {
    contents: Contents,
    position: usize,
}

impl SequentialFile for MemSequentialFile {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let data = read_lock(&self.contents);
        let start = self.position.min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        self.position = start + n;
        Ok(n)
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let len = read_lock(&self.contents).len();
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.position = self.position.saturating_add(n).min(len.max(self.position));
        Ok(())
    }
}

/// A random-access reader over shared in-memory bytes.
struct MemRandomAccessFile {
    contents: Contents,
    /// Length when opened; reads never go past it.
    len: u64,
}

impl RandomAccessFile for MemRandomAccessFile {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let data = read_lock(&self.contents);
        let end_of_file = usize::try_from(self.len).unwrap_or(usize::MAX).min(data.len());
        let start = usize::try_from(offset).map_or(end_of_file, |offset| offset.min(end_of_file));
        let end = start + len.min(end_of_file - start);
        Ok(Bytes::copy_from_slice(&data[start..end]))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// A writer that appends straight into shared in-memory bytes.
///
/// [`WritableFile::preallocate`] puts real zeros after the appended bytes
/// (readers see them, as on a real file); appends then overwrite them in
/// place and `close` cuts them off. Like `StdFs`, a file from
/// `open_appendable` does not preallocate.
struct MemWritableFile {
    path: PathBuf,
    contents: Contents,
    len: u64,
    closed: bool,
    /// Opened by `open_appendable` (no preallocation).
    append_only: bool,
    /// Length of the contents including preallocated zeros (when above `len`).
    allocated: u64,
}

impl MemWritableFile {
    fn new(path: &Path, contents: Contents, len: u64, append_only: bool) -> MemWritableFile {
        MemWritableFile {
            path: path.to_path_buf(),
            contents,
            len,
            closed: false,
            append_only,
            allocated: len,
        }
    }

    fn check_open(&self, op: &'static str) -> Result<()> {
        if self.closed {
            Err(fs_error(op, &self.path, io::ErrorKind::Other, "file is already closed"))
        } else {
            Ok(())
        }
    }
}

impl WritableFile for MemWritableFile {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.check_open("write")?;
        let mut contents = write_lock(&self.contents);
        let at = usize::try_from(self.len).unwrap_or(usize::MAX);
        if self.allocated > self.len && at < contents.len() {
            // Overwrite preallocated zeros, then extend past them.
            let overlap = data.len().min(contents.len() - at);
            contents[at..at + overlap].copy_from_slice(&data[..overlap]);
            contents.extend_from_slice(&data[overlap..]);
        } else {
            contents.extend_from_slice(data);
        }
        self.len += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.check_open("flush")
    }

    fn sync(&mut self) -> Result<()> {
        self.check_open("sync")
    }

    fn close(&mut self) -> Result<()> {
        self.check_open("close")?;
        self.closed = true;
        if self.allocated > self.len {
            let keep = usize::try_from(self.len).unwrap_or(usize::MAX);
            write_lock(&self.contents).truncate(keep);
            self.allocated = self.len;
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn preallocate(&mut self, len: u64) -> Result<u64> {
        self.check_open("preallocate")?;
        if self.append_only {
            return Ok(self.len);
        }
        let at = self.allocated.max(self.len);
        if len <= at {
            return Ok(at);
        }
        let new_len = usize::try_from(len).map_err(|_| {
            fs_error("preallocate", &self.path, io::ErrorKind::FileTooLarge, "length does not fit in memory")
        })?;
        let mut contents = write_lock(&self.contents);
        if contents.len() < new_len {
            contents.resize(new_len, 0);
        }
        self.allocated = len;
        Ok(len)
    }
}

impl Drop for MemWritableFile {
    fn drop(&mut self) {
        if !self.closed {
            // Like `StdFs`: a handle dropped without `close` leaves no zeros.
            let _ = self.close();
        }
    }
}

/// A held in-memory lock; dropping it frees the path.
struct MemFileLock {
    tree: Arc<Mutex<Tree>>,
    path: PathBuf,
}

impl fmt::Debug for MemFileLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFileLock").field("path", &self.path).finish()
    }
}

impl FileLock for MemFileLock {}

impl Drop for MemFileLock {
    fn drop(&mut self) {
        self.tree.lock().unwrap_or_else(PoisonError::into_inner).locks.remove(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{read_file_to_vec, write_file};

    #[test]
    fn files_need_an_existing_directory() {
        let fs = MemFs::new();
        let err = fs.create_writable(Path::new("db/000001.log"), WriteMode::Buffered).err().unwrap();
        assert!(err.is_not_found());
        fs.create_dir_all(Path::new("db")).unwrap();
        write_file(&fs, Path::new("db/000001.log"), b"x", false).unwrap();
        // A bare name lives in the relative root, which always exists.
        write_file(&fs, Path::new("top"), b"y", false).unwrap();
        assert!(fs.exists(Path::new("./db/../top")));
        assert!(fs.exists(Path::new("db/")));
    }

    #[test]
    fn list_dir_lists_direct_children_only() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/a/b/c")).unwrap();
        write_file(&fs, Path::new("/a/f1"), b"", false).unwrap();
        write_file(&fs, Path::new("/a/b/f2"), b"", false).unwrap();
        let mut names = fs.list_dir(Path::new("/a")).unwrap();
        names.sort();
        assert_eq!(names, ["b", "f1"]);
        assert_eq!(fs.list_dir(Path::new("/")).unwrap(), ["a"]);
        assert!(fs.list_dir(Path::new("/nope")).unwrap_err().is_not_found());
        assert!(fs.list_dir(Path::new("/a/f1")).is_err());
    }

    #[test]
    fn readers_see_appends_at_once() {
        let fs = MemFs::new();
        let path = Path::new("log");
        let mut w = fs.create_writable(path, WriteMode::Mmap { chunk_size: 4096 }).unwrap();
        let mut r = fs.open_sequential(path).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        w.append(b"abc").unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(fs.file_size(path).unwrap(), 3, "no zero tail in memory");
        w.close().unwrap();
        assert!(w.append(b"d").is_err());
    }

    #[test]
    fn random_access_keeps_its_opening_length() {
        let fs = MemFs::new();
        let path = Path::new("t");
        let mut w = fs.create_writable(path, WriteMode::Buffered).unwrap();
        w.append(b"0123456789").unwrap();
        let r = fs.open_random_access(path, ReadMode::Mmap).unwrap();
        w.append(b"more").unwrap();
        assert_eq!(r.len(), 10);
        assert_eq!(&r.read_at(8, 100).unwrap()[..], b"89");
        assert!(r.read_at(u64::MAX, usize::MAX).unwrap().is_empty());
    }

    #[test]
    fn hard_links_share_contents() {
        let fs = MemFs::new();
        let mut w = fs.create_writable(Path::new("a"), WriteMode::Buffered).unwrap();
        w.append(b"one").unwrap();
        fs.hard_link(Path::new("a"), Path::new("b")).unwrap();
        w.append(b"two").unwrap();
        assert_eq!(read_file_to_vec(&fs, Path::new("b")).unwrap(), b"onetwo");
        fs.remove_file(Path::new("a")).unwrap();
        assert_eq!(read_file_to_vec(&fs, Path::new("b")).unwrap(), b"onetwo");
        assert!(fs.hard_link(Path::new("a"), Path::new("c")).unwrap_err().is_not_found());
        assert!(fs.hard_link(Path::new("b"), Path::new("b")).is_err(), "target exists");
    }

    #[test]
    fn rename_replaces_files_and_moves_directories() {
        let fs = MemFs::new();
        write_file(&fs, Path::new("x"), b"new", false).unwrap();
        write_file(&fs, Path::new("y"), b"old", false).unwrap();
        fs.rename(Path::new("x"), Path::new("y")).unwrap();
        assert!(!fs.exists(Path::new("x")));
        assert_eq!(read_file_to_vec(&fs, Path::new("y")).unwrap(), b"new");
        assert!(fs.rename(Path::new("x"), Path::new("z")).unwrap_err().is_not_found());

        fs.create_dir_all(Path::new("d1/sub")).unwrap();
        write_file(&fs, Path::new("d1/sub/f"), b"f", false).unwrap();
        fs.rename(Path::new("d1"), Path::new("d2")).unwrap();
        assert!(!fs.exists(Path::new("d1")));
        assert_eq!(read_file_to_vec(&fs, Path::new("d2/sub/f")).unwrap(), b"f");
        assert!(fs.rename(Path::new("d2"), Path::new("d2/sub/inner")).is_err());
    }

    #[test]
    fn remove_dir_needs_an_empty_directory() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("d")).unwrap();
        write_file(&fs, Path::new("d/f"), b"", false).unwrap();
        assert!(fs.remove_dir(Path::new("d")).is_err());
        fs.remove_file(Path::new("d/f")).unwrap();
        fs.remove_dir(Path::new("d")).unwrap();
        assert!(!fs.exists(Path::new("d")));
        assert!(fs.remove_dir(Path::new("d")).unwrap_err().is_not_found());
        assert!(fs.create_dir_all(Path::new("")).is_ok());
    }

    #[test]
    fn create_writable_truncates_and_directories_are_not_files() {
        let fs = MemFs::new();
        write_file(&fs, Path::new("f"), b"long contents", false).unwrap();
        write_file(&fs, Path::new("f"), b"s", false).unwrap();
        assert_eq!(read_file_to_vec(&fs, Path::new("f")).unwrap(), b"s");
        fs.create_dir_all(Path::new("d")).unwrap();
        assert!(fs.create_writable(Path::new("d"), WriteMode::Buffered).is_err());
        assert!(fs.open_sequential(Path::new("d")).is_err());
        assert!(fs.create_dir_all(Path::new("f")).is_err());
        assert!(fs.create_dir_all(Path::new("f/g")).is_err());
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("db")).unwrap();
        let first = fs.lock_file(Path::new("db/LOCK")).unwrap();
        assert!(fs.exists(Path::new("db/LOCK")));
        let clone = fs.clone();
        assert!(matches!(clone.lock_file(Path::new("db/./LOCK")), Err(Error::Busy(_))));
        drop(first);
        let _second = clone.lock_file(Path::new("db/LOCK")).unwrap();
        assert!(matches!(fs.lock_file(Path::new("db/LOCK")), Err(Error::Busy(_))));
        assert!(fs.lock_file(Path::new("nodir/LOCK")).unwrap_err().is_not_found());
    }
}
