//! The CLI's error type and the exit code each kind of failure gives.
//!
//! | exit | meaning                                                            |
//! |------|--------------------------------------------------------------------|
//! | 0    | success                                                            |
//! | 1    | the command could not do its job: `get` of a missing key, a missing, locked or corrupt database, `verify` found problems, an I/O error |
//! | 2    | the command line is wrong: unknown option, missing argument, bad hex, odd `batchput` arguments |
//!
//! Every error is printed as one line, `lsmkit: <message>`, on stderr.

use std::fmt;

/// Exit code of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit code of an operational failure (see the module documentation).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage error (see the module documentation).
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The command line cannot be used as given (exit 2).
    Usage(String),
    /// `get` found no value for the key (exit 1, message `NotFound: KEY`).
    NotFound(String),
    /// The command ran and failed, with a message for the user (exit 1).
    Failed(String),
    /// An error from the storage engine or one of its crates (exit 1).
    Store(lsmkit_base::Error),
    /// Writing the output failed (exit 1; a closed pipe is not reported).
    Output(std::io::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotFound(_) | CliError::Failed(_) | CliError::Store(_) | CliError::Output(_) => {
                EXIT_FAILURE
            }
        }
    }

    /// True when the output went to a pipe whose reader has gone (`lsmkit
    /// scan | head`): the run stops quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) | CliError::Failed(message) => f.write_str(message),
            CliError::NotFound(key) => write!(f, "NotFound: {key}"),
            CliError::Store(error) => match error {
                lsmkit_base::Error::Busy(message) => {
                    write!(f, "database is locked (is another process using it?): {message}")
                }
                other => write!(f, "{other}"),
            },
            CliError::Output(error) => write!(f, "cannot write output: {error}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<lsmkit_base::Error> for CliError {
    fn from(error: lsmkit_base::Error) -> CliError {
        CliError::Store(error)
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError::Output(error)
    }
}

/// Result of a CLI operation.
pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_table() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(CliError::NotFound("k".into()).exit_code(), EXIT_FAILURE);
        assert_eq!(CliError::Store(lsmkit_base::Error::corruption("bad")).exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn busy_is_explained() {
        let e = CliError::Store(lsmkit_base::Error::Busy("lock db/LOCK: held by another process".into()));
        assert!(e.to_string().starts_with("database is locked"), "{e}");
        assert_eq!(CliError::NotFound("0x01".into()).to_string(), "NotFound: 0x01");
    }

    #[test]
    fn broken_pipe_is_recognised() {
        assert!(CliError::Output(std::io::ErrorKind::BrokenPipe.into()).is_broken_pipe());
        assert!(!CliError::Output(std::io::ErrorKind::Other.into()).is_broken_pipe());
    }
}
