//! How keys and values are written on the command line and printed: as
//! they are, as `0x…` hex (`ldb`'s `--hex`, `--key_hex`, `--value_hex`), or
//! quoted with escapes in diagnostic output (`dump`, `manifest`, `wal`).

use std::ffi::OsStr;
use std::io::Write;

use crate::error::{CliError, CliResult};

/// Parses `0x…` hex (either case, `0x` or `0X`, an even number of digits;
/// `0x` alone is the empty string).
///
/// ```
/// use lsmkit_cli::byte_format::parse_hex;
/// assert_eq!(parse_hex("0x00fF").unwrap(), [0x00, 0xff]);
/// assert!(parse_hex("00ff").is_err());
/// assert!(parse_hex("0xabc").is_err());
/// ```
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(|| format!("bad hex '{text}': must start with 0x"))?;
    if digits.len() % 2 != 0 {
        return Err(format!("bad hex '{text}': odd number of digits"));
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    digits
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| match (nibble(pair[0]), nibble(pair[1])) {
            (Some(high), Some(low)) => Ok(high << 4 | low),
            _ => Err(format!("bad hex '{text}': not a hex digit")),
        })
        .collect()
}

/// `0x` followed by two upper-case hex digits per byte, as `ldb` prints.
///
/// ```
/// assert_eq!(lsmkit_cli::byte_format::to_hex(b"\x01k"), "0x016B");
/// ```
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("0x");
    for byte in bytes {
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

/// `bytes` in single quotes: printable ASCII as it is, except `\` and `'`;
/// every other byte as `\xNN`. Unambiguous and always one line.
///
/// ```
/// assert_eq!(lsmkit_cli::byte_format::quoted(b"a'\n\xff"), r"'a\x27\x0a\xff'");
/// ```
pub fn quoted(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('\'');
    for &byte in bytes {
        if (b' '..=b'~').contains(&byte) && byte != b'\\' && byte != b'\'' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('\'');
    out
}

/// The raw bytes of a command-line argument (arguments need not be UTF-8).
fn os_bytes(arg: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        arg.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        arg.to_string_lossy().into_owned().into_bytes()
    }
}

/// The key and value encodings chosen by `--hex`, `--key_hex` and `--value_hex`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteFormat {
    /// Keys are given and printed as `0x…`.
    pub key_hex: bool,
    /// Values are given and printed as `0x…`.
    pub value_hex: bool,
}

impl ByteFormat {
    fn parse(hex: bool, what: &str, arg: &OsStr) -> CliResult<Vec<u8>> {
        if !hex {
            return Ok(os_bytes(arg));
        }
        let text = arg.to_str().ok_or_else(|| CliError::Usage(format!("bad hex {what}: not UTF-8")))?;
        parse_hex(text).map_err(|message| CliError::Usage(format!("{message} (in a {what})")))
    }

    /// A key from the command line.
    pub fn parse_key(&self, arg: &OsStr) -> CliResult<Vec<u8>> {
        ByteFormat::parse(self.key_hex, "key", arg)
    }

    /// A value from the command line.
    pub fn parse_value(&self, arg: &OsStr) -> CliResult<Vec<u8>> {
        ByteFormat::parse(self.value_hex, "value", arg)
    }

    /// Writes a key as data output (`get`, `scan`): hex or the bytes as they are.
    pub fn write_key(&self, out: &mut dyn Write, key: &[u8]) -> std::io::Result<()> {
        write_data(out, self.key_hex, key)
    }

    /// Writes a value as data output: hex or the bytes as they are.
    pub fn write_value(&self, out: &mut dyn Write, value: &[u8]) -> std::io::Result<()> {
        write_data(out, self.value_hex, value)
    }

    /// A key for diagnostic output and messages: hex or [`quoted`].
    pub fn show_key(&self, key: &[u8]) -> String {
        if self.key_hex {
            to_hex(key)
        } else {
            quoted(key)
        }
    }

    /// A value for diagnostic output: hex or [`quoted`].
    pub fn show_value(&self, value: &[u8]) -> String {
        if self.value_hex {
            to_hex(value)
        } else {
            quoted(value)
        }
    }
}

fn write_data(out: &mut dyn Write, hex: bool, bytes: &[u8]) -> std::io::Result<()> {
    if hex {
        out.write_all(to_hex(bytes).as_bytes())
    } else {
        out.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(parse_hex(&to_hex(&all)).unwrap(), all);
        assert_eq!(parse_hex(&to_hex(&all).to_lowercase().replacen("0x", "0X", 1)).unwrap(), all);
        assert_eq!(parse_hex("0x").unwrap(), b"");
    }

    #[test]
    fn bad_hex_is_refused_with_the_reason() {
        assert!(parse_hex("").unwrap_err().contains("0x"));
        assert!(parse_hex("0x1").unwrap_err().contains("odd"));
        assert!(parse_hex("0xzz").unwrap_err().contains("not a hex digit"));
        assert!(parse_hex("0x+1").is_err());
        assert!(parse_hex("0xé1").is_err());
    }

    #[test]
    fn quoting_is_one_line_and_unambiguous() {
        assert_eq!(quoted(b"key"), "'key'");
        assert_eq!(quoted(b"\\"), r"'\x5c'");
        assert_eq!(quoted(b"\x00\x7f"), r"'\x00\x7f'");
    }

    #[test]
    fn formats_apply_to_keys_and_values_separately() {
        let format = ByteFormat { key_hex: true, value_hex: false };
        assert_eq!(format.parse_key(OsStr::new("0x6b")).unwrap(), b"k");
        assert_eq!(format.parse_value(OsStr::new("0x6b")).unwrap(), b"0x6b");
        let err = format.parse_key(OsStr::new("6b")).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        let mut out = Vec::new();
        format.write_key(&mut out, b"k").unwrap();
        format.write_value(&mut out, b"v").unwrap();
        assert_eq!(out, b"0x6Bv");
        assert_eq!((format.show_key(b"k"), format.show_value(b"v")), ("0x6B".into(), "'v'".into()));
    }

    #[cfg(unix)]
    #[test]
    fn raw_arguments_keep_non_utf8_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let format = ByteFormat::default();
        assert_eq!(format.parse_key(OsStr::from_bytes(b"\xff\x00")).unwrap(), b"\xff\x00");
        let hex = ByteFormat { key_hex: true, value_hex: true };
        assert_eq!(hex.parse_key(OsStr::from_bytes(b"\xff")).unwrap_err().exit_code(), 2);
    }
}
