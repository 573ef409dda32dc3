//! `scan`: the entries of a key range in order (or in reverse), one
//! `KEY : VALUE` line each, as `ldb scan` prints them. `--from` is
//! inclusive, `--to` exclusive, and `--prefix` narrows the range further.
//! Keys compare bytewise (docs/format.md §9), the only comparator the CLI opens.

use std::io::Write;
use std::path::Path;

use lsmkit::DbIterator;

use crate::args::ScanArgs;
use crate::byte_format::ByteFormat;
use crate::database::{self, OpenOptions};
use crate::error::CliResult;

/// The keys a scan covers: `lower <= key`, and `key < upper` when there is an upper bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRange {
    /// Inclusive lower bound (empty: from the first key).
    pub lower: Vec<u8>,
    /// Exclusive upper bound, if any.
    pub upper: Option<Vec<u8>>,
}

impl ScanRange {
    /// The intersection of `[from, to)` and the keys starting with `prefix`.
    pub fn new(from: Option<Vec<u8>>, to: Option<Vec<u8>>, prefix: Option<Vec<u8>>) -> ScanRange {
        let mut lower = from.unwrap_or_default();
        let mut upper = to;
        if let Some(prefix) = prefix {
            if prefix > lower {
                lower = prefix.clone();
            }
            if let Some(end) = prefix_successor(&prefix) {
                upper = Some(match upper {
                    Some(to) if to < end => to,
                    _ => end,
                });
            }
        }
        ScanRange { lower, upper }
    }

    /// True when `key` is below the upper bound.
    fn below_upper(&self, key: &[u8]) -> bool {
        self.upper.as_deref().is_none_or(|upper| key < upper)
    }

    /// True when no key can be in the range.
    fn is_empty(&self) -> bool {
        self.upper.as_deref().is_some_and(|upper| upper <= self.lower.as_slice())
    }
}

/// The smallest key above every key that starts with `prefix`; `None` if
/// there is none (empty or all `0xff`).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&byte| byte != 0xff)?;
    let mut successor = prefix[..=last].to_vec();
    successor[last] += 1;
    Some(successor)
}

/// `scan`.
pub fn scan(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    args: &ScanArgs,
    out: &mut dyn Write,
) -> CliResult {
    let parse = |arg: &Option<std::ffi::OsString>| arg.as_ref().map(|a| format.parse_key(a)).transpose();
    let range = ScanRange::new(parse(&args.from)?, parse(&args.to)?, parse(&args.prefix)?);
    let db = database::open(dir, open)?;
    let mut it = db.iter(database::read_options());
    let limit = args.limit.unwrap_or(u64::MAX);
    if args.reverse {
        scan_backward(&mut it, &range, limit, format, out)
    } else {
        scan_forward(&mut it, &range, limit, format, out)
    }
}

fn print_entry(it: &DbIterator, format: ByteFormat, out: &mut dyn Write) -> std::io::Result<()> {
    format.write_key(out, it.key())?;
    out.write_all(b" : ")?;
    format.write_value(out, it.value())?;
    out.write_all(b"\n")
}

fn scan_forward(
    it: &mut DbIterator,
    range: &ScanRange,
    limit: u64,
    format: ByteFormat,
    out: &mut dyn Write,
) -> CliResult {
    if range.is_empty() || limit == 0 {
        return Ok(());
    }
    it.seek(&range.lower);
    let mut printed = 0;
    while it.valid() && range.below_upper(it.key()) && printed < limit {
        print_entry(it, format, out)?;
        printed += 1;
        it.next();
    }
    Ok(it.status()?)
}

fn scan_backward(
    it: &mut DbIterator,
    range: &ScanRange,
    limit: u64,
    format: ByteFormat,
    out: &mut dyn Write,
) -> CliResult {
    if range.is_empty() || limit == 0 {
        return Ok(());
    }
    match &range.upper {
        Some(upper) => {
            it.seek(upper);
            if it.valid() {
                it.prev();
            } else {
                it.status()?;
                it.seek_to_last();
            }
        }
        None => it.seek_to_last(),
    }
    let mut printed = 0;
    while it.valid() && it.key() >= range.lower.as_slice() && printed < limit {
        print_entry(it, format, out)?;
        printed += 1;
        it.prev();
    }
    Ok(it.status()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: Option<&[u8]>, to: Option<&[u8]>, prefix: Option<&[u8]>) -> ScanRange {
        let owned = |k: Option<&[u8]>| k.map(<[u8]>::to_vec);
        ScanRange::new(owned(from), owned(to), owned(prefix))
    }

    #[test]
    fn prefix_narrows_the_range() {
        assert_eq!(
            range(None, None, Some(b"ab")),
            ScanRange { lower: b"ab".to_vec(), upper: Some(b"ac".to_vec()) }
        );
        assert_eq!(
            range(Some(b"abc"), Some(b"b"), Some(b"ab")),
            ScanRange { lower: b"abc".to_vec(), upper: Some(b"ac".to_vec()) }
        );
        assert_eq!(
            range(Some(b"a"), Some(b"ab\x05"), Some(b"ab")),
            ScanRange { lower: b"ab".to_vec(), upper: Some(b"ab\x05".to_vec()) }
        );
        assert_eq!(range(None, None, Some(b"\xff\xff")).upper, None);
        assert_eq!(range(None, None, Some(b"a\xff")).upper, Some(b"b".to_vec()));
    }

    #[test]
    fn empty_ranges_are_recognised() {
        assert!(range(Some(b"b"), Some(b"a"), None).is_empty());
        assert!(range(Some(b"b"), Some(b"b"), None).is_empty());
        assert!(range(Some(b"b"), None, Some(b"a")).is_empty());
        assert!(!range(None, Some(b"\x00"), None).is_empty());
        assert!(!range(None, None, None).is_empty());
    }
}
