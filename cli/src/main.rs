//! The `lsmkit` binary: runs [`lsmkit_cli::run`] on the process's arguments
//! with buffered stdout and exits with the code it returns.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A bug must still end in one readable line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(std::io::stderr(), "lsmkit: internal error: {info}");
    }));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let code = lsmkit_cli::run(std::env::args_os(), &mut out, &mut err);
    ExitCode::from(code)
}
