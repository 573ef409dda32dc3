//! `--json FILE`: every figure as a JSON array with one object per engine ×
//! workload (written by hand: a handful of numbers and names needs no
//! serializer).

use std::fmt::Write;

use super::measurement::Measurement;

/// A JSON string literal of `s`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number for `v` (`null` for NaN and infinities, which JSON lacks).
pub fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn optional<T>(v: Option<T>, render: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "null".into(), render)
}

/// The JSON object of one measurement.
pub fn object(m: &Measurement) -> String {
    format!(
        "{{\"engine\": {}, \"benchmark\": {}, \"num\": {}, \"micros_per_op\": {}, \"ops_per_sec\": {}, \
         \"mb_per_s\": {}, \"p50_us\": {}, \"p99_us\": {}, \"p999_us\": {}, \"write_amp\": {}, \
         \"disk_bytes_written\": {}, \"settled_write_amp\": {}, \"settled_disk_bytes_written\": {}, \
         \"bytes_on_disk\": {}, \"peak_rss_bytes\": {}, \"files_per_level\": {}, \"message\": {}}}",
        string(&m.engine),
        string(&m.benchmark),
        m.num,
        number(m.micros_per_op),
        number(m.ops_per_sec()),
        optional(m.mb_per_s, number),
        number(m.p50_us),
        number(m.p99_us),
        number(m.p999_us),
        optional(m.write_amp, number),
        optional(m.disk_bytes_written, |v| v.to_string()),
        optional(m.settled_write_amp, number),
        optional(m.settled_disk_bytes_written, |v| v.to_string()),
        m.bytes_on_disk,
        optional(m.peak_rss_bytes, |v| v.to_string()),
        optional(m.files_per_level.as_deref(), |files| format!(
            "[{}]",
            files.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        )),
        string(&m.message),
    )
}

/// The whole document: an array of [`object`]s, one per line.
pub fn document(measurements: &[Measurement]) -> String {
    let objects: Vec<String> = measurements.iter().map(|m| format!("  {}", object(m))).collect();
    format!("[\n{}\n]\n", objects.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measurement::tests::sample;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("plain"), "\"plain\"");
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn numbers_are_json_numbers() {
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(f64::INFINITY), "null");
    }

    #[test]
    fn document_has_every_field() {
        let with_nulls = Measurement { mb_per_s: None, write_amp: None, ..sample("leveldb", "readseq", 0.5) };
        let doc = document(&[sample("lsmkit", "fillseq", 2.0), with_nulls]);
        assert!(doc.starts_with("[\n  {\"engine\": \"lsmkit\", \"benchmark\": \"fillseq\", \"num\": 1000, "));
        assert!(doc.ends_with("}\n]\n"));
        assert_eq!(doc.lines().count(), 4);
        for field in [
            "\"micros_per_op\": 2,",
            "\"ops_per_sec\": 500000,",
            "\"mb_per_s\": 12.5,",
            "\"p50_us\": 1.25,",
            "\"p99_us\": 9.5,",
            "\"p999_us\": 40,",
            "\"write_amp\": 2.5,",
            "\"settled_write_amp\": 2.7,",
            "\"settled_disk_bytes_written\": 324000,",
            "\"bytes_on_disk\": 123456,",
            "\"peak_rss_bytes\": 52428800,",
            "\"files_per_level\": [2, 5, 31],",
            "\"mb_per_s\": null,",
            "\"write_amp\": null,",
            "\"message\": \"(632 of 1000 found)\"}",
        ] {
            assert!(doc.contains(field), "{field} missing from {doc}");
        }
        assert_eq!(document(&[]), "[\n\n]\n");
    }
}
