//! What the bench needs from the machine for the peer engines, and how it
//! gets a build that has them: the system packages (checked with `dpkg-query`
//! and the headers), and a re-invocation of cargo with the engines' features
//! (`cargo xtask` builds xtask without features).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::engine::EngineName;

/// Set in the environment of the re-invoked build, so it cannot loop.
const REINVOKED_ENV: &str = "LSMKIT_BENCH_REINVOKED";

/// Where Debian-like systems keep shared libraries.
const LIBRARY_DIRS: [&str; 6] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/usr/local/lib64",
];

/// The Debian packages an engine's adapter builds and links against.
pub fn packages_needed(engine: EngineName) -> &'static [&'static str] {
    match engine {
        EngineName::Lsmkit | EngineName::Fjall => &[],
        EngineName::Leveldb => &["libleveldb-dev"],
        EngineName::Rocksdb => &["librocksdb-dev", "libclang-dev"],
    }
}

/// A file the package installs, checked where `dpkg-query` is missing.
fn package_marker(package: &str) -> Option<&'static str> {
    match package {
        "libleveldb-dev" => Some("/usr/include/leveldb/c.h"),
        "librocksdb-dev" => Some("/usr/include/rocksdb/c.h"),
        _ => None,
    }
}

/// Whether `package` is installed (per `dpkg-query`, or by its header file
/// where there is no dpkg).
fn package_installed(package: &str) -> bool {
    match Command::new("dpkg-query").args(["-W", "-f=${Status}", package]).output() {
        Ok(output) => {
            output.status.success()
                && String::from_utf8_lossy(&output.stdout).contains("install ok installed")
        }
        Err(_) => package_marker(package).is_some_and(|marker| Path::new(marker).exists()),
    }
}

/// The packages `engines` need that are not installed.
pub fn missing_packages(engines: &[EngineName]) -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = Vec::new();
    for &engine in engines {
        for &package in packages_needed(engine) {
            if !missing.contains(&package) && !package_installed(package) {
                missing.push(package);
            }
        }
    }
    missing
}

/// The directory holding `lib<name>.so`, if any of the usual ones does.
fn library_dir(name: &str) -> Option<PathBuf> {
    LIBRARY_DIRS.iter().map(PathBuf::from).find(|dir| dir.join(format!("lib{name}.so")).exists())
}

/// Runs this bench again through `cargo run --release -p xtask --features
/// …` with the features `engines` need, passing `args` (the bench's own
/// arguments) on; returns once that run ends.
pub fn reinvoke_with_features(engines: &[EngineName], args: Vec<OsString>) -> Result<(), String> {
    if std::env::var_os(REINVOKED_ENV).is_some() {
        return Err("the rebuilt bench still lacks an engine's feature".into());
    }
    let missing = missing_packages(engines);
    if !missing.is_empty() {
        return Err(format!(
            "the peer engines need system packages that are missing; install them with:\n  \
             apt-get update && apt-get install -y {}",
            missing.join(" ")
        ));
    }
    let features: Vec<&str> = engines.iter().filter_map(|e| e.cargo_feature()).collect();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .args(["run", "--release", "--manifest-path", manifest, "-p", "xtask", "--features"])
        .arg(features.join(","))
        .arg("--")
        .args(args)
        .env(REINVOKED_ENV, "1");
    if engines.contains(&EngineName::Rocksdb) && std::env::var_os("ROCKSDB_LIB_DIR").is_none() {
        // Link the system's librocksdb instead of building the bundled
        // sources (which takes a quarter of an hour).
        let dir = library_dir("rocksdb").ok_or("librocksdb.so not found; install librocksdb-dev")?;
        command.env("ROCKSDB_LIB_DIR", dir);
    }
    eprintln!("bench: rebuilding xtask with --features {} for the peer engines", features.join(","));
    let status = command.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the bench with --features {} failed ({status})", features.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsmkit_and_fjall_need_no_packages() {
        assert!(missing_packages(&[EngineName::Lsmkit, EngineName::Fjall]).is_empty());
        assert_eq!(packages_needed(EngineName::Rocksdb), ["librocksdb-dev", "libclang-dev"]);
    }

    #[test]
    fn unknown_packages_are_missing() {
        assert!(!package_installed("lsmkit-no-such-package"));
    }
}
