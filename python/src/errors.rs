//! plyvel's exception classes (`Error`, `IOError`, `CorruptionError`,
//! `IteratorInvalidError`) and how engine errors and binding-side failures
//! become Python exceptions.

use pyo3::exceptions::{PyException, PyOSError, PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pyo3::create_exception!(
    lsmkit,
    Error,
    PyException,
    "Base class of every error lsmkit raises for a failed database operation (plyvel.Error)."
);
pyo3::create_exception!(
    lsmkit,
    CorruptionError,
    Error,
    "Damaged data was read: a bad checksum, a malformed block or record (LevelDB's Corruption)."
);
pyo3::create_exception!(
    lsmkit,
    IteratorInvalidError,
    Error,
    "A raw iterator was asked for its key or value, or to move, while not on an entry."
);

/// `lsmkit.IOError`: a subclass of both [`Error`] and the built-in
/// `OSError`, as plyvel's is. Made at module import with `type()`, since a
/// class with two bases cannot be declared with `create_exception!`.
static IO_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `lsmkit.IOError` class, created on first use.
pub(crate) fn io_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    IO_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(py, [py.get_type::<Error>(), py.get_type::<PyOSError>()])?;
            let namespace = PyDict::new(py);
            namespace.set_item("__module__", "lsmkit")?;
            namespace.set_item(
                "__doc__",
                "An operating-system I/O call failed, or the database directory is locked by \
                 another process (a subclass of lsmkit.Error and OSError).",
            )?;
            let class = py.get_type::<PyType>().call1(("IOError", bases, namespace))?;
            Ok(class.cast_into::<PyType>()?.unbind())
        })
        .map(|class| class.bind(py))
}

/// Why a call into the engine did not give its result.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The database (or the iterator, snapshot, ...) is closed; the text
    /// is the message of the `RuntimeError`.
    Closed(&'static str),
    /// The engine reported an error.
    Engine(lsmkit::Error),
    /// An iterator has nothing more in that direction (`StopIteration`).
    Stop,
    /// A raw iterator is not on an entry (`IteratorInvalidError`).
    Invalid,
}

impl From<lsmkit::Error> for Fail {
    fn from(e: lsmkit::Error) -> Fail {
        Fail::Engine(e)
    }
}

impl Fail {
    /// The Python exception for this failure.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Fail::Closed(message) => PyRuntimeError::new_err(message),
            Fail::Engine(e) => engine_error(py, e),
            Fail::Stop => PyStopIteration::new_err(()),
            Fail::Invalid => IteratorInvalidError::new_err("the iterator is not positioned on an entry"),
        }
    }
}

/// The Python exception for an engine error: I/O errors and a locked
/// directory give `IOError` (with `errno` when the OS gave one), damaged
/// data `CorruptionError`, anything else `Error` (as plyvel maps LevelDB's
/// statuses).
pub(crate) fn engine_error(py: Python<'_>, e: lsmkit::Error) -> PyErr {
    let message = e.to_string();
    match &e {
        lsmkit::Error::Io { source, .. } => {
            let errno = source.raw_os_error();
            match io_error_type(py) {
                Ok(class) => match errno {
                    Some(errno) => PyErr::from_type(class.clone(), (errno, message)),
                    None => PyErr::from_type(class.clone(), message),
                },
                Err(err) => err,
            }
        }
        lsmkit::Error::Busy(_) => match io_error_type(py) {
            Ok(class) => PyErr::from_type(class.clone(), message),
            Err(err) => err,
        },
        lsmkit::Error::Corruption { .. } => CorruptionError::new_err(message),
        _ => Error::new_err(message),
    }
}
