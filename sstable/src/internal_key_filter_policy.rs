//! [`InternalKeyFilterPolicy`]: lets a filter policy built for user keys
//! serve a table whose keys are internal keys (docs/format.md §7: the filter
//! holds user keys), as LevelDB's `InternalFilterPolicy` does.

use std::sync::Arc;

use lsmkit_base::key::extract_user_key;
use lsmkit_bloom::FilterPolicy;

/// Wraps a user-key filter policy: strips the 8-byte internal-key trailer
/// from every key before handing it on, and keeps the wrapped policy's name,
/// so the metaindex entry (`filter.<name>`) is the one LevelDB writes.
///
/// ```
/// use std::sync::Arc;
/// use lsmkit_base::key::{make_internal_key, ValueKind};
/// use lsmkit_bloom::{FilterPolicy, LevelDbBloom};
/// use lsmkit_sstable::InternalKeyFilterPolicy;
///
/// let policy = InternalKeyFilterPolicy::new(Arc::new(LevelDbBloom::new(10)));
/// let key = make_internal_key(b"k", 1, ValueKind::Value);
/// let mut filter = Vec::new();
/// policy.create_filter(&[&key], &mut filter);
/// // The same bytes the user-key policy makes for the user key.
/// assert_eq!(filter, [0x40, 0x00, 0x00, 0x01, 0x04, 0x04, 0x10, 0x10, 0x06]);
/// assert!(policy.key_may_match(&make_internal_key(b"k", 99, ValueKind::Value), &filter));
/// assert_eq!(policy.name(), "leveldb.BuiltinBloomFilter2");
/// ```
#[derive(Clone)]
pub struct InternalKeyFilterPolicy {
    user_policy: Arc<dyn FilterPolicy>,
}

impl InternalKeyFilterPolicy {
    /// Wraps `user_policy`.
    pub fn new(user_policy: Arc<dyn FilterPolicy>) -> InternalKeyFilterPolicy {
        InternalKeyFilterPolicy { user_policy }
    }

    /// The wrapped user-key policy.
    pub fn user_policy(&self) -> &Arc<dyn FilterPolicy> {
        &self.user_policy
    }
}

impl std::fmt::Debug for InternalKeyFilterPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InternalKeyFilterPolicy({})", self.user_policy.name())
    }
}

impl FilterPolicy for InternalKeyFilterPolicy {
    fn name(&self) -> &str {
        self.user_policy.name()
    }

    fn create_filter(&self, keys: &[&[u8]], dst: &mut Vec<u8>) {
        let user_keys: Vec<&[u8]> = keys.iter().map(|key| extract_user_key(key)).collect();
        self.user_policy.create_filter(&user_keys, dst);
    }

    fn key_may_match(&self, key: &[u8], filter: &[u8]) -> bool {
        self.user_policy.key_may_match(extract_user_key(key), filter)
    }
}
