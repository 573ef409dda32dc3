//! plyvel's database options (`DB(...)` and `repair_db(...)` keywords) turned
//! into engine [`Options`], with plyvel's checks and defaults: Snappy
//! compression, no bloom filter unless `bloom_filter_bits` is set, LevelDB's
//! sizes unless given.

use std::sync::Arc;
use std::time::Duration;

use lsmkit::{Compression, Options};
use lsmkit_bloom::LevelDbBloom;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::comparator::PyComparator;

/// The `compression` argument: `'snappy'` (the default, as `str` or
/// `bytes`) or `None`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompressionArg(pub(crate) Compression);

impl<'py> FromPyObject<'_, 'py> for CompressionArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<CompressionArg> {
        if obj.is_none() {
            return Ok(CompressionArg(Compression::None));
        }
        let name = if let Ok(b) = obj.cast::<PyBytes>() {
            String::from_utf8_lossy(b.as_bytes()).into_owned()
        } else if let Ok(s) = obj.cast::<PyString>() {
            s.to_str()?.to_owned()
        } else {
            return Err(PyTypeError::new_err("'compression' must be None or a string"));
        };
        match name.as_str() {
            "snappy" => Ok(CompressionArg(Compression::Snappy)),
            _ => Err(PyValueError::new_err(format!("'compression' must be None or 'snappy', not {name:?}"))),
        }
    }
}

/// The options plyvel's `DB()` and `repair_db()` share.
pub(crate) struct TableArgs<'py> {
    pub(crate) paranoid_checks: Option<bool>,
    pub(crate) write_buffer_size: Option<usize>,
    pub(crate) max_open_files: Option<usize>,
    pub(crate) lru_cache_size: Option<u64>,
    pub(crate) block_size: Option<usize>,
    pub(crate) block_restart_interval: Option<usize>,
    pub(crate) max_file_size: Option<u64>,
    pub(crate) compression: CompressionArg,
    pub(crate) bloom_filter_bits: i32,
    pub(crate) comparator: Option<Bound<'py, PyAny>>,
    pub(crate) comparator_name: Option<&'py [u8]>,
}

/// lsmkit's own options, beyond plyvel's.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LsmkitArgs {
    pub(crate) enable_ttl: bool,
    pub(crate) wal_ttl_seconds: f64,
    pub(crate) wal_size_limit: u64,
}

/// Builds engine options (and the Python comparator, if one is given).
pub(crate) fn build_options(
    args: TableArgs<'_>,
    extra: LsmkitArgs,
) -> PyResult<(Options, Option<Arc<PyComparator>>)> {
    let mut options = Options::default();
    if let Some(paranoid) = args.paranoid_checks {
        options.paranoid_checks = paranoid;
    }
    if let Some(size) = args.write_buffer_size {
        options.write_buffer_size = size;
    }
    if let Some(n) = args.max_open_files {
        options.max_open_files = n;
    }
    if let Some(size) = args.lru_cache_size {
        options.block_cache_capacity = size;
    }
    if let Some(size) = args.block_size {
        options.block_size = size;
    }
    if let Some(n) = args.block_restart_interval {
        options.block_restart_interval = n;
    }
    if let Some(size) = args.max_file_size {
        options.max_file_size = size;
    }
    options.compression = args.compression.0;
    // plyvel's default is no filter; bits <= 0 mean none.
    options.filter_policy = match u32::try_from(args.bloom_filter_bits) {
        Ok(bits) if bits > 0 => Some(Arc::new(LevelDbBloom::new(bits))),
        _ => None,
    };
    let comparator = match (args.comparator, args.comparator_name) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(PyValueError::new_err(
                "'comparator' and 'comparator_name' must be specified together",
            ))
        }
        (Some(function), Some(name)) => {
            if !function.is_callable() {
                return Err(PyTypeError::new_err("custom comparator object must be callable"));
            }
            let name = std::str::from_utf8(name)
                .map_err(|_| PyValueError::new_err("'comparator_name' must be valid UTF-8"))?;
            if name.is_empty() {
                return Err(PyValueError::new_err("'comparator_name' must not be empty"));
            }
            Some(Arc::new(PyComparator::new(name.to_owned(), function.unbind())))
        }
    };
    if let Some(c) = &comparator {
        options.comparator = Arc::clone(c) as Arc<dyn lsmkit_base::comparator::Comparator>;
    }
    options.enable_ttl = extra.enable_ttl;
    options.wal_ttl = seconds(extra.wal_ttl_seconds, "wal_ttl_seconds", true)?;
    options.wal_size_limit = extra.wal_size_limit;
    Ok((options, comparator))
}

/// A duration in seconds: finite and not negative (zero allowed when
/// `zero_ok`).
pub(crate) fn seconds(value: f64, what: &str, zero_ok: bool) -> PyResult<Duration> {
    if !value.is_finite() || value < 0.0 || (!zero_ok && value == 0.0) {
        let bound = if zero_ok { "zero or more" } else { "more than zero" };
        return Err(PyValueError::new_err(format!(
            "'{what}' must be a finite number of seconds, {bound}, not {value}"
        )));
    }
    Duration::try_from_secs_f64(value).map_err(|e| PyValueError::new_err(format!("'{what}': {e}")))
}
