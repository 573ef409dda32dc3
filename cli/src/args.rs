//! The command line of `lsmkit`, in the style of RocksDB's `ldb`: global
//! options (`--db=DIR`, `--hex`, …) may come before or after the command.

use std::ffi::OsString;
use std::path::PathBuf;

use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use lsmkit::{MaxOperator, MergeOperator, StringAppendOperator, U64AddOperator};

use crate::byte_format::ByteFormat;
use crate::error::{CliError, CliResult};

const AFTER_HELP: &str = "\
Keys and values are taken and printed as they are, or as 0x-prefixed hex with
--hex (both), --key_hex or --value_hex. `get` prints the value; `scan` prints
one `KEY : VALUE` line per entry. `dump`, `manifest` and `wal` quote keys and
values ('...', other bytes as \\xNN) unless hex is asked for.

Exit status: 0 success; 1 the command failed (key not found, database missing,
locked or corrupt, `verify` found problems); 2 bad command line (including bad
hex). Errors are printed on stderr as `lsmkit: MESSAGE`.";

/// `lsmkit`: inspect and edit LevelDB 1.23 and lsmkit databases.
#[derive(Debug, Parser)]
#[command(name = "lsmkit", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The database directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Keys and values are given and printed as 0x… hex.
    #[arg(long, global = true)]
    pub hex: bool,
    /// Keys are given and printed as 0x… hex.
    #[arg(long = "key_hex", global = true)]
    pub key_hex: bool,
    /// Values are given and printed as 0x… hex.
    #[arg(long = "value_hex", global = true)]
    pub value_hex: bool,
    /// Create the database if it does not exist (for writes to a new directory).
    #[arg(long = "create_if_missing", global = true)]
    pub create_if_missing: bool,
    /// Open the database with a merge operator (needed for databases that
    /// use one, and for `merge`): `u64add`, `max`, `append` (delimiter `,`)
    /// or `append:DELIMITER`.
    #[arg(long = "merge_operator", global = true, value_name = "NAME")]
    pub merge_operator: Option<String>,
    /// Open the database with range deletions (needed for databases that
    /// use them, and for `deleterange`).
    #[arg(long = "range_deletions", global = true)]
    pub range_deletions: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The merge operator `--merge_operator` names, if any; an unknown
    /// name is a usage error.
    pub fn merge_operator(&self) -> CliResult<Option<Arc<dyn MergeOperator>>> {
        let Some(name) = self.merge_operator.as_deref() else { return Ok(None) };
        let operator: Arc<dyn MergeOperator> = match name {
            "u64add" => Arc::new(U64AddOperator),
            "max" => Arc::new(MaxOperator),
            "append" => Arc::new(StringAppendOperator::new(b",")),
            _ => match name.strip_prefix("append:") {
                Some(delimiter) => Arc::new(StringAppendOperator::new(delimiter.as_bytes())),
                None => {
                    return Err(CliError::Usage(format!(
                        "unknown merge operator '{name}' (u64add, max, append or append:DELIMITER)"
                    )))
                }
            },
        };
        Ok(Some(operator))
    }

    /// The key and value formats the flags ask for.
    pub fn byte_format(&self) -> ByteFormat {
        ByteFormat { key_hex: self.hex || self.key_hex, value_hex: self.hex || self.value_hex }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the value of KEY (exit 1 and `NotFound` if it has none).
    Get {
        /// The key.
        key: OsString,
    },
    /// Set KEY to VALUE.
    Put {
        /// The key.
        key: OsString,
        /// The value.
        value: OsString,
    },
    /// Delete KEY (deleting a missing key is not an error).
    Delete {
        /// The key.
        key: OsString,
    },
    /// Set several keys in one atomic batch: K1 V1 [K2 V2 …].
    Batchput {
        /// Keys and values, alternating.
        #[arg(required = true, num_args = 2.., value_name = "KEY VALUE")]
        pairs: Vec<OsString>,
    },
    /// Merge OPERAND into KEY with the merge operator (needs --merge_operator).
    Merge {
        /// The key.
        key: OsString,
        /// The operand (a value with --hex or --value_hex).
        operand: OsString,
    },
    /// Delete every key in [BEGIN, END) in one write (needs --range_deletions).
    Deleterange {
        /// The first key deleted.
        begin: OsString,
        /// The first key after the range (not deleted).
        end: OsString,
    },
    /// Print the entries in key order, one `KEY : VALUE` line each.
    Scan(ScanArgs),
    /// Print the contents of one file: a `.log`, a `.ldb`/`.sst` table or a
    /// `MANIFEST-*` (chosen by its name). Does not need --db.
    Dump {
        /// The file.
        file: PathBuf,
    },
    /// Print the database's current version from its MANIFEST: counters,
    /// levels, files, sizes and key ranges (read-only).
    Manifest {
        /// Also print every edit recorded in the MANIFEST.
        #[arg(long)]
        verbose: bool,
    },
    /// Check every checksum of every live file: the MANIFEST, each table
    /// (every block) and each live log (read-only). Exits 1 if anything is wrong.
    Verify,
    /// Print the database's statistics (property `lsmkit.stats`).
    Stats,
    /// Compact the keys in [--from, --to] (default: all keys).
    Compact {
        /// First key to compact (inclusive).
        #[arg(long)]
        from: Option<OsString>,
        /// Last key to compact (inclusive).
        #[arg(long)]
        to: Option<OsString>,
    },
    /// Write an openable copy of the database to DIR, which must not exist
    /// yet (tables are hard-linked where possible).
    Checkpoint {
        /// Where the copy goes.
        dir: PathBuf,
    },
    /// Rebuild the MANIFEST from the tables and logs in the directory,
    /// keeping everything readable (LevelDB's RepairDB). Files it cannot
    /// use are moved to the `lost/` subdirectory, never deleted.
    Repair,
    /// Print the updates logged in the write-ahead logs from sequence
    /// number SEQ on, one operation per line (read-only).
    Wal {
        /// The first sequence number to print.
        #[arg(long, value_name = "SEQ")]
        since: u64,
    },
    /// Print the approximate bytes on disk used by the keys in [--from, --to).
    Approxsize {
        /// Start of the range (inclusive).
        #[arg(long)]
        from: OsString,
        /// End of the range (exclusive).
        #[arg(long)]
        to: OsString,
    },
}

/// Options of `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// First key (inclusive).
    #[arg(long)]
    pub from: Option<OsString>,
    /// End key (exclusive).
    #[arg(long)]
    pub to: Option<OsString>,
    /// Only keys that start with this.
    #[arg(long)]
    pub prefix: Option<OsString>,
    /// Print in descending key order.
    #[arg(long)]
    pub reverse: bool,
    /// Print at most N entries.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let cli = Cli::try_parse_from(["lsmkit", "--db=d", "get", "k", "--key_hex"]).unwrap();
        assert_eq!(cli.db.as_deref(), Some(std::path::Path::new("d")));
        assert_eq!(cli.byte_format(), ByteFormat { key_hex: true, value_hex: false });
        let cli = Cli::try_parse_from(["lsmkit", "scan", "--db", "d", "--hex", "--from=0x01", "--reverse"])
            .unwrap();
        assert_eq!(cli.byte_format(), ByteFormat { key_hex: true, value_hex: true });
        match cli.command {
            Command::Scan(scan) => {
                assert_eq!(scan.from, Some("0x01".into()));
                assert!(scan.reverse && scan.to.is_none() && scan.limit.is_none());
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn batchput_needs_at_least_one_pair() {
        assert!(Cli::try_parse_from(["lsmkit", "batchput", "k"]).is_err());
        let cli = Cli::try_parse_from(["lsmkit", "batchput", "a", "1", "b", "2"]).unwrap();
        assert!(matches!(cli.command, Command::Batchput { pairs } if pairs.len() == 4));
    }

    #[test]
    fn wal_needs_a_numeric_since() {
        assert!(Cli::try_parse_from(["lsmkit", "wal"]).is_err());
        assert!(Cli::try_parse_from(["lsmkit", "wal", "--since=x"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["lsmkit", "wal", "--since=7"]).unwrap().command,
            Command::Wal { since: 7 }
        ));
    }
}
