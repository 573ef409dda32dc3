//! The library half of `cargo xtask`: code shared by the task binary, its
//! helper binaries and its tests. Today that is [`crash`], the process-crash
//! test (`cargo xtask crash`), whose harness and `crash_writer` binary must
//! agree on the write history they both derive from a seed.
//!
//! ```
//! use xtask::crash::history::{key_bytes, op, parse_key};
//! use xtask::crash::plan::{Plan, Step};
//!
//! // Operation 42 of the run with seed 7 is the same on every machine.
//! let op42 = op(7, 42);
//! assert_eq!(op42, op(7, 42));
//! assert_eq!(parse_key(&key_bytes(op42.key)), Some(op42.key));
//!
//! // A cycle's plan numbers its operations on from where the history stands.
//! let first_write = Plan::new(7, 0, 1000).find_map(|step| step.ops()).unwrap();
//! assert_eq!(first_write.start, 1000);
//! # let _ = Step::Flush { through: 0 };
//! ```

#![forbid(unsafe_code)]

pub mod crash;
