//! Basic open / write / read / reopen / flush / compact round trip.

use lsmkit::{Db, FlushOptions, Options, ReadOptions, WriteBatch, WriteOptions};

fn options() -> Options {
    Options { create_if_missing: true, write_buffer_size: 64 << 10, ..Options::default() }
}

#[test]
fn writes_survive_reopen_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        for i in 0..20_000u32 {
            db.put(format!("key{i:06}").as_bytes(), format!("value{i}").as_bytes()).unwrap();
        }
        let mut batch = WriteBatch::new();
        batch.delete(b"key000005");
        batch.put(b"extra", b"x");
        db.write(WriteOptions { sync: true, ..Default::default() }, batch).unwrap();
        assert_eq!(db.get(b"key000005").unwrap(), None);
        assert_eq!(db.get(b"key000006").unwrap().as_deref(), Some(&b"value6"[..]));
        db.flush(FlushOptions::default()).unwrap();
        db.compact_range(None, None).unwrap();
        assert_eq!(db.get(b"key019999").unwrap().as_deref(), Some(&b"value19999"[..]));
    }
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get(b"key000005").unwrap(), None);
    assert_eq!(db.get(b"extra").unwrap().as_deref(), Some(&b"x"[..]));
    let mut it = db.iter(ReadOptions::new());
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status().unwrap();
    assert_eq!(n, 20_000);
    assert_eq!(db.range(&b"key000000"[..]..&b"key000010"[..]).count(), 9);
    assert_eq!(db.prefix(b"key0199").rev().count(), 100);
    assert!(db.property("lsmkit.stats").unwrap().contains("Write amplification"));
}

#[test]
fn second_open_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::open(dir.path(), options()).unwrap();
    let err = Db::open(dir.path(), options()).err().expect("locked");
    assert!(matches!(err, lsmkit::Error::Busy(_)), "{err}");
}
