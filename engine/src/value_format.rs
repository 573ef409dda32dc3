//! [`ValueFormat`]: how a database stores its values, chosen once at open —
//! as given (LevelDB's format) or in the TTL frame of entry expiry
//! (engine/src/ttl.rs, docs/format.md). The write path, gets, iterators and
//! compactions ask the format what to do instead of each checking
//! `Options::enable_ttl` for itself.

use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::{Error, Result};
use lsmkit_compaction::CompactionFilter;
use lsmkit_wal::ttl_value::TtlValue;
use lsmkit_wal::WriteBatch;

use crate::db_iterator::DbIterator;
use crate::options::Options;
use crate::ttl::{now_millis, Clock, ExpiredValueFilter};

/// How values are stored.
#[derive(Clone)]
pub(crate) enum ValueFormat {
    /// As the user wrote them.
    Plain,
    /// In the TTL frame (an expiry time, or none, before the value); a
    /// value whose time has come reads as deleted, by `clock`'s time.
    TtlFramed { clock: Option<Clock> },
}

impl ValueFormat {
    /// The format `options` ask for (`enable_ttl`, with its clock).
    pub(crate) fn from_options(options: &Options) -> ValueFormat {
        if options.enable_ttl {
            ValueFormat::TtlFramed { clock: options.clock.clone() }
        } else {
            ValueFormat::Plain
        }
    }

    /// Brings a batch to be written into this format: frames its values for
    /// a TTL database; refuses (`InvalidArgument`) a batch with entries that
    /// have a time to live for a plain one.
    pub(crate) fn prepare_batch(&self, batch: &mut WriteBatch) -> Result<()> {
        match self {
            ValueFormat::TtlFramed { .. } => {
                batch.frame_for_ttl();
                Ok(())
            }
            ValueFormat::Plain if batch.is_ttl_framed() => Err(Error::InvalidArgument(
                "the batch holds entries with a time to live, but the database was opened without \
                 Options::enable_ttl"
                    .into(),
            )),
            ValueFormat::Plain => Ok(()),
        }
    }

    /// The user's view of the value a get found for `key`: as stored for a
    /// plain database; without the frame, and `None` once expired, for a
    /// TTL one. A malformed frame is `Corruption`.
    pub(crate) fn user_value(&self, key: &[u8], stored: Option<Bytes>) -> Result<Option<Bytes>> {
        let Some(stored) = stored else { return Ok(None) };
        let ValueFormat::TtlFramed { clock } = self else {
            return Ok(Some(stored));
        };
        let framed = TtlValue::decode(&stored).map_err(|e| match e {
            Error::Corruption { message, file, offset } => Error::Corruption {
                message: format!("value of key '{}': {message}", key.escape_ascii()),
                file,
                offset,
            },
            other => other,
        })?;
        if framed.is_expired(now_millis(clock)) {
            return Ok(None);
        }
        Ok(Some(stored.slice(framed.frame_len()..)))
    }

    /// `iterator` as the user sees it: unchanged for a plain database; for a
    /// TTL one, values expired when the iterator is made count as
    /// deletions, and values are shown without their frame.
    pub(crate) fn user_iterator(&self, iterator: DbIterator) -> DbIterator {
        let ValueFormat::TtlFramed { clock } = self else {
            return iterator;
        };
        let now = now_millis(clock);
        iterator
            .with_expiry(Arc::new(move |stored: &[u8]| {
                TtlValue::decode(stored).is_ok_and(|framed| framed.is_expired(now))
            }))
            .with_value_frame(Arc::new(|stored: &[u8]| TtlValue::decode(stored).map(|f| f.frame_len())))
    }

    /// The compaction filter this format needs: for a TTL database, the one
    /// that removes expired values.
    pub(crate) fn compaction_filter(&self) -> Option<Arc<dyn CompactionFilter>> {
        match self {
            ValueFormat::Plain => None,
            ValueFormat::TtlFramed { clock } => {
                Some(Arc::new(ExpiredValueFilter { clock: clock.clone() }) as Arc<dyn CompactionFilter>)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_wal::ttl_value::encode_ttl_value;

    fn ttl_format(now: u64) -> ValueFormat {
        ValueFormat::TtlFramed { clock: Some(Arc::new(move || now)) }
    }

    #[test]
    fn plain_values_pass_through_and_ttl_batches_are_refused() {
        let plain = ValueFormat::Plain;
        assert_eq!(
            plain.user_value(b"k", Some(Bytes::from_static(b"v"))).unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert!(plain.compaction_filter().is_none());
        let mut batch = WriteBatch::new();
        batch.put(b"k", b"v");
        plain.prepare_batch(&mut batch).unwrap();
        assert!(!batch.is_ttl_framed());
        let mut with_ttl = WriteBatch::new();
        with_ttl.put_with_expiry(b"k", b"v", 10);
        assert!(matches!(plain.prepare_batch(&mut with_ttl), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn framed_values_lose_their_frame_and_expire_by_the_clock() {
        let mut stored = Vec::new();
        encode_ttl_value(&mut stored, Some(100), b"v");
        let stored = Bytes::from(stored);
        assert_eq!(
            ttl_format(99).user_value(b"k", Some(stored.clone())).unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(ttl_format(100).user_value(b"k", Some(stored)).unwrap(), None);
        let malformed = ttl_format(1).user_value(b"k", Some(Bytes::from_static(b"\x07garbage")));
        assert!(matches!(malformed, Err(Error::Corruption { .. })));
        assert!(ttl_format(1).compaction_filter().is_some());
        let mut batch = WriteBatch::new();
        batch.put(b"k", b"v");
        ttl_format(1).prepare_batch(&mut batch).unwrap();
        assert!(batch.is_ttl_framed());
    }
}
