//! Fuzz target: `VersionEdit::decode` (docs/format.md §10.1) on arbitrary bytes.
//!
//! Decoding never panics; an error is always `Corruption`; whatever decodes
//! is valid, re-encodes canonically (encoding the decoded edit and decoding
//! that gives the same edit, and encoding is then stable).

#![no_main]

use libfuzzer_sys::fuzz_target;
use lsmkit_version::VersionEdit;

fuzz_target!(|data: &[u8]| {
    match VersionEdit::decode(data) {
        Ok(edit) => {
            assert_eq!(edit.validate(), Ok(()));
            let encoded = edit.encode();
            let again = VersionEdit::decode(&encoded).expect("a re-encoded edit decodes");
            assert_eq!(again, edit);
            assert_eq!(again.encode(), encoded);
        }
        Err(error) => assert!(error.is_corruption(), "{error}"),
    }
});
