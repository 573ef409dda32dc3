//! The one error type every lsmkit crate returns (docs/architecture.md, "The contracts in base").
//!
//! `Corruption` carries the file and byte offset where they are known, so a
//! report of bad bytes on disk always says where to look.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Result alias used across lsmkit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in lsmkit.
///
/// `Error` is `Clone` so that iterators can keep a sticky status and the
/// engine can hand its first background error to every later writer. It is
/// `#[non_exhaustive]`: matches outside this crate need a catch-all arm, so
/// a later kind of error is not a breaking change.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes read from storage are malformed.
    #[error("corruption: {message}{}", Location { file: file.as_deref(), offset: *offset })]
    Corruption {
        /// What is wrong.
        message: String,
        /// The file the bytes came from, when known.
        file: Option<PathBuf>,
        /// The byte offset inside that file, when known.
        offset: Option<u64>,
    },
    /// An operating-system I/O call failed.
    #[error("I/O error: {op} {}: {source}", path.display())]
    Io {
        /// The operation that failed (`"open"`, `"read"`, `"sync"`, ...).
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The underlying error.
        source: Arc<std::io::Error>,
    },
    /// The caller passed something that cannot be used.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The operation or format feature is not supported.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The resource (a database directory) is held by someone else.
    #[error("busy: {0}")]
    Busy(String),
    /// The database is closing (its last handle was dropped): the
    /// operation was not carried out.
    #[error("the database is closing")]
    Closed,
}

struct Location<'a> {
    file: Option<&'a Path>,
    offset: Option<u64>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.file, self.offset) {
            (Some(file), Some(offset)) => write!(f, " (in {} at offset {offset})", file.display()),
            (Some(file), None) => write!(f, " (in {})", file.display()),
            (None, Some(offset)) => write!(f, " (at offset {offset})"),
            (None, None) => Ok(()),
        }
    }
}

impl Error {
    /// A corruption with no location yet; see [`Error::in_file`] and [`Error::at_offset`].
    pub fn corruption(message: impl Into<String>) -> Error {
        Error::Corruption { message: message.into(), file: None, offset: None }
    }

    /// A corruption found in `file` at byte `offset`.
    pub fn corruption_at(file: impl Into<PathBuf>, offset: u64, message: impl Into<String>) -> Error {
        Error::Corruption { message: message.into(), file: Some(file.into()), offset: Some(offset) }
    }

    /// An I/O error from `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { op, path: path.into(), source: Arc::new(source) }
    }

    /// Sets the file of a `Corruption` that has none; other errors pass through.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        match self {
            Error::Corruption { message, file: None, offset } => {
                Error::Corruption { message, file: Some(path.into()), offset }
            }
            other => other,
        }
    }

    /// Sets the offset of a `Corruption` that has none; other errors pass through.
    pub fn at_offset(self, at: u64) -> Error {
        match self {
            Error::Corruption { message, file, offset: None } => {
                Error::Corruption { message, file, offset: Some(at) }
            }
            other => other,
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// True for [`Error::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed)
    }

    /// True for [`Error::Io`] whose OS error is "not found".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_display_names_file_and_offset() {
        let e = Error::corruption("bad block").in_file("db/000005.ldb").at_offset(4096);
        assert_eq!(e.to_string(), "corruption: bad block (in db/000005.ldb at offset 4096)");
        assert!(e.is_corruption());
    }

    #[test]
    fn location_is_not_overwritten() {
        let e = Error::corruption_at("a.log", 7, "x").in_file("b.log").at_offset(9);
        assert_eq!(e.to_string(), "corruption: x (in a.log at offset 7)");
    }

    #[test]
    fn closed_is_its_own_kind() {
        assert!(Error::Closed.is_closed());
        assert!(!Error::InvalidArgument("the database is closing".into()).is_closed());
        assert_eq!(Error::Closed.to_string(), "the database is closing");
    }

    #[test]
    fn io_error_reports_op_and_path() {
        let e = Error::io("open", "/nope", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(e.is_not_found());
        assert!(e.to_string().starts_with("I/O error: open /nope"));
    }
}
