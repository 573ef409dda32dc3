//! What Linux tells about this process: bytes it caused to be written to
//! storage (`write_bytes` of `/proc/self/io`, counted for every thread when
//! a page is dirtied, whoever writes it back) and its peak resident set
//! size (`VmHWM` of `/proc/self/status`).

/// Bytes this process has caused to be written to storage so far, or `None`
/// where `/proc/self/io` is missing (not Linux, or no task I/O accounting).
pub fn write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    field(&io, "write_bytes:")
}

/// Peak resident set size of this process in bytes, or `None` where
/// `/proc/self/status` is missing.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    field(&status, "VmHWM:").map(|kib| kib * 1024)
}

/// The first number after `name` on the line that starts with it.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_parsed() {
        let io = "rchar: 6976\nwchar: 0\nwrite_bytes: 40960\ncancelled_write_bytes: 0\n";
        assert_eq!(field(io, "write_bytes:"), Some(40960));
        assert_eq!(field(io, "read_bytes:"), None);
        assert_eq!(field("VmHWM:\t  123456 kB\n", "VmHWM:"), Some(123456));
        assert_eq!(field("VmHWM: lots\n", "VmHWM:"), None);
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes().unwrap() > 0);
        }
    }
}
