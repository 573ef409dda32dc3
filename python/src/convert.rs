//! Conversions between Python arguments and the engine's byte strings and
//! paths: values from any bytes-like object, database names from `str`,
//! `bytes` or `os.PathLike`, and the "next prefix" used for prefix ranges.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

/// A value argument: borrowed from a `bytes` object, or copied out of any
/// other bytes-like object (whose contents could change while the GIL is
/// released).
pub(crate) enum ValueArg<'py> {
    /// A `bytes` object (immutable, read in place).
    Bytes(Bound<'py, PyBytes>),
    /// A copy of a `bytearray`, `memoryview` or other buffer's bytes.
    Owned(Vec<u8>),
}

impl ValueArg<'_> {
    /// The value's bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            ValueArg::Bytes(b) => b.as_bytes(),
            ValueArg::Owned(v) => v,
        }
    }
}

/// Reads a value: `bytes`, `bytearray`, `memoryview` or any object with the
/// buffer protocol, taken as raw bytes (plyvel's `PyBUF_SIMPLE`).
pub(crate) fn value_arg<'py>(value: &Bound<'py, PyAny>) -> PyResult<ValueArg<'py>> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(ValueArg::Bytes(b.clone()));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(ValueArg::Owned(b.to_vec()));
    }
    let not_bytes_like = || {
        PyTypeError::new_err(format!(
            "a value must be a bytes-like object (bytes, bytearray, memoryview), not '{}'",
            value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
        ))
    };
    if value.is_none() {
        return Err(not_bytes_like());
    }
    let view = PyMemoryView::from(value).map_err(|_| not_bytes_like())?;
    let bytes = view.call_method0("tobytes")?.cast_into::<PyBytes>()?;
    Ok(ValueArg::Bytes(bytes))
}

/// The file-system path for a database name: `bytes` as is, `str` encoded
/// as `os.fsencode` does, or an `os.PathLike`'s path.
pub(crate) fn fs_path(name: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    let py = name.py();
    if let Ok(b) = name.cast::<PyBytes>() {
        return Ok(PathBuf::from(OsStr::from_bytes(b.as_bytes())));
    }
    let os = py.import("os")?;
    let encoded = if name.is_instance_of::<PyString>() || name.hasattr("__fspath__")? {
        os.call_method1("fsencode", (name,))?
    } else {
        return Err(PyTypeError::new_err(format!(
            "'name' must be a str, bytes or os.PathLike object, not '{}'",
            name.get_type().name()?
        )));
    };
    let encoded = encoded.cast_into::<PyBytes>()?;
    Ok(PathBuf::from(OsStr::from_bytes(encoded.as_bytes())))
}

/// The smallest byte string greater than every string that starts with
/// `prefix` (the prefix with trailing `0xff` bytes dropped and its last
/// byte incremented), or `None` when there is none (`prefix` is empty or
/// all `0xff`).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let keep = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut next = prefix[..=keep].to_vec();
    next[keep] += 1;
    Some(next)
}

/// `prefix ++ key`.
pub(crate) fn concat(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + key.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(key);
    out
}
