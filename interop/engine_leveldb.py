#!/usr/bin/python3
"""Interop helper for the lsmkit engine's tests (engine/tests/leveldb_interop.rs),
driving the real LevelDB 1.23 through Debian's python3-plyvel.

Usage:
  engine_leveldb.py session DIR OUT --seed S [--create N] [--check IN]
                            [--block-size B] [--restart R]
      One LevelDB session that ends in a crash. A child process opens DIR
      (Snappy, 10-bit bloom, a small write buffer), with --check first
      verifies that LevelDB's view equals the state file IN, then writes:
      with --create N a new database of N distinct binary keys, otherwise
      changes to the state it found; both with overwrites, deletes of live
      and missing keys, values from 0 B to 100 KiB and compact_range calls,
      until three levels hold tables.
      Its last batch is left only in the WAL: the child kills itself with
      SIGKILL without closing. This process then checks that DIR has a
      non-empty WAL and three non-empty levels, opens a COPY of DIR
      with LevelDB (so DIR keeps its WAL), checks that what LevelDB
      recovered equals what the child wrote, and writes it to OUT.
  engine_leveldb.py check DIR IN
      Opens DIR with LevelDB (paranoid checks), verifies that its view equals
      the state file IN (full scans both ways, a get of every live and every
      listed absent key), and closes it.

State files: a sequence of records, each
  u8 tag (1 = live key, 0 = absent key), u32 LE key length, key bytes,
  and for a live key u32 LE value length, value bytes.
Live keys are the database's whole view; absent keys are a sample of keys
that must not be found (deleted ones and never-written ones).

Exit status 0 on success; on any mismatch a message on stderr and status 1.
"""

import argparse
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

import plyvel

NUM_LEVELS = 7
WRITE_BUFFER_SIZE = 256 << 10
BATCH_SIZE = 64
# Bytes a memtable entry takes beyond its key and value (LevelDB: lengths,
# sequence and type, skip list links), roughly.
MEMTABLE_ENTRY_OVERHEAD = 32
MAX_VALUE = 100 << 10

# Keys around the edges of the byte order.
EDGE_KEYS = [b"", b"\x00", b"\x00\x00", b"\x00\xff", b"\xff", b"\xff\x00", b"\xff" * 4, b"\xff" * 40]


class Mismatch(Exception):
    pass


def show(key):
    return key.hex() if len(key) <= 40 else key[:40].hex() + "..(len %d)" % len(key)


# ----- state files -------------------------------------------------------------


def write_state(path, live, absent):
    with open(path, "wb") as f:
        for key in sorted(live):
            value = live[key]
            f.write(struct.pack("<BI", 1, len(key)) + key + struct.pack("<I", len(value)) + value)
        for key in sorted(absent):
            f.write(struct.pack("<BI", 0, len(key)) + key)


def read_state(path):
    with open(path, "rb") as f:
        data = f.read()
    live, absent, pos = {}, set(), 0

    def take(n):
        nonlocal pos
        if pos + n > len(data):
            raise Mismatch("%s: truncated at offset %d" % (path, pos))
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    while pos < len(data):
        tag, key_len = struct.unpack("<BI", take(5))
        key = take(key_len)
        if tag == 1:
            (value_len,) = struct.unpack("<I", take(4))
            live[key] = take(value_len)
        elif tag == 0:
            absent.add(key)
        else:
            raise Mismatch("%s: bad tag %d at offset %d" % (path, tag, pos - 5))
    return live, absent


# ----- LevelDB ------------------------------------------------------------------


def open_db(directory, args, create):
    return plyvel.DB(
        directory,
        create_if_missing=create,
        paranoid_checks=True,
        bloom_filter_bits=10,
        compression="snappy",
        write_buffer_size=WRITE_BUFFER_SIZE,
        block_size=args.block_size,
        block_restart_interval=args.restart,
    )


def verify(db, live, absent, what):
    """LevelDB's view of `db` must be exactly `live`; no key of `absent` found."""
    forward = list(db.iterator())
    keys = [k for k, _ in forward]
    expected_keys = sorted(live)
    if keys != expected_keys:
        extra = sorted(set(keys) - set(live))
        missing = sorted(set(live) - set(keys))
        raise Mismatch(
            "%s: LevelDB scan has %d keys, expected %d; unexpected %s; missing %s"
            % (what, len(keys), len(live), [show(k) for k in extra[:5]], [show(k) for k in missing[:5]])
        )
    for key, value in forward:
        if value != live[key]:
            raise Mismatch(
                "%s: LevelDB scan: key %s has a value of %d bytes, expected %d bytes"
                % (what, show(key), len(value), len(live[key]))
            )
    backward = list(db.iterator(reverse=True))
    backward.reverse()
    if backward != forward:
        raise Mismatch("%s: LevelDB backward scan differs from the forward scan" % what)
    for key, value in live.items():
        got = db.get(key)
        if got != value:
            found = "nothing" if got is None else "%d other bytes" % len(got)
            raise Mismatch("%s: LevelDB get(%s) found %s, expected %d bytes" % (what, show(key), found, len(value)))
    for key in absent:
        if key in live:
            raise Mismatch("%s: state file lists %s as both live and absent" % (what, show(key)))
        got = db.get(key)
        if got is not None:
            raise Mismatch(
                "%s: LevelDB get(%s) found %d bytes, expected nothing" % (what, show(key), len(got))
            )


def levels(db):
    return [int(db.get_property(b"leveldb.num-files-at-level%d" % level)) for level in range(NUM_LEVELS)]


# ----- the workload -------------------------------------------------------------


def random_value(rng):
    r = rng.random()
    if r < 0.05:
        size = 0
    elif r < 0.98:
        size = rng.randint(1, 60)
    elif r < 0.9999:
        size = rng.randint(61, 1000)
    else:
        size = rng.randint(10_000, MAX_VALUE)
    if rng.random() < 0.5:
        return rng.randbytes(size)  # incompressible
    pattern = b"%x:" % rng.randrange(1 << 20)
    return (pattern * (size // len(pattern) + 1))[:size]  # compressible


def numbered_key(rng, number):
    """A distinct binary key per `number`, with 0x00 and 0xff bytes about."""
    head = rng.choice([b"\x00", b"\x01", b"\x7f", b"\x80", b"\xfe", b"\xff", b"\xff\xff", b"\x00\x00"])
    tail = bytes(rng.choice([0x00, 0xFF, rng.randrange(256)]) for _ in range(rng.randint(0, 6)))
    return head + number.to_bytes(4, "big") + tail


def never_written_key(rng, number):
    # A 0x42 byte after the head never occurs at that place in numbered keys
    # of the first 2**24 numbers, so these are never written.
    return rng.choice([b"\x00", b"\x7f", b"\xff"]) + b"\x42" + number.to_bytes(4, "big")


class Writer:
    """Applies batches to LevelDB and to a model (live dict + absent set)."""

    def __init__(self, db, live, absent):
        self.db, self.live, self.absent = db, live, absent
        self.keys = list(live)  # candidates for overwrites/deletes (may hold dead keys)
        self.bytes_written = 0  # roughly what the writes take in a memtable

    def apply(self, ops):
        with self.db.write_batch() as batch:
            for key, value in ops:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
        for key, value in ops:
            self.bytes_written += len(key) + MEMTABLE_ENTRY_OVERHEAD
            if value is None:
                self.live.pop(key, None)
                self.absent.add(key)
            else:
                self.bytes_written += len(value)
                self.live[key] = value
                self.absent.discard(key)
                self.keys.append(key)

    def random_ops(self, rng, budget, put_percent, new_key):
        """Batches of puts of new keys, overwrites, deletes of live keys and
        deletes of missing keys, until about `budget` more bytes are written."""
        stop = self.bytes_written + budget
        while self.bytes_written < stop:
            ops = []
            for _ in range(BATCH_SIZE):
                r = rng.randrange(100)
                if r < put_percent or not self.keys:
                    key = new_key() if rng.random() < 0.3 or not self.keys else rng.choice(self.keys)
                    ops.append((key, random_value(rng)))
                elif r < 97:
                    ops.append((rng.choice(self.keys), None))
                else:
                    ops.append((new_key(), None))
            self.apply(ops)


def workload(db, live, absent, args):
    rng = random.Random(args.seed)
    writer = Writer(db, live, absent)
    counter = [args.seed << 20]

    def new_key():
        counter[0] += 1
        return numbered_key(rng, counter[0] % (1 << 32))

    if args.create:
        # A table spanning the whole key space: flushed into an empty
        # database, it lands in level 2, the deepest level a flush reaches.
        writer.apply([(key, random_value(rng)) for key in EDGE_KEYS])
        db.compact_range()
        # Every key once, in random order, then everything pushed down to
        # level 2 with it.
        order = list(range(args.create))
        rng.shuffle(order)
        ops = []
        for number in order:
            ops.append((numbered_key(rng, number), random_value(rng)))
            if len(ops) >= BATCH_SIZE:
                writer.apply(ops)
                ops = []
        writer.apply(ops)
        writer.apply([(b"\xff" * 3 + b"\x00" * 2, b"\x00" * MAX_VALUE), (b"\x00" * 3, b"\xff" * MAX_VALUE)])
        db.compact_range()
    # Overwrites and deletes over it, then compactions of parts of the key space.
    size = max(writer.bytes_written, sum(len(k) + len(v) for k, v in live.items()))
    writer.random_ops(rng, size // 5, 60, new_key)
    db.compact_range(start=b"\x00", stop=b"\x80")
    db.compact_range(start=b"\xfe", stop=b"\xff\x7f")
    # More churn until flushed tables make three levels non-empty (a flush
    # goes to level 0 or 1 when it overlaps the deeper levels, and level-0
    # compactions start only at 4 files), then half a write buffer more.
    stop = writer.bytes_written + 8 * WRITE_BUFFER_SIZE
    while sum(1 for n in levels(db) if n) < 3 and writer.bytes_written < stop:
        writer.random_ops(rng, WRITE_BUFFER_SIZE // 16, 50, new_key)
    writer.random_ops(rng, WRITE_BUFFER_SIZE // 2, 50, new_key)
    for _ in range(10):
        absent.add(never_written_key(rng, rng.randrange(1 << 32)))
    # The last batch: puts (one of the largest size), overwrites and deletes.
    last = [(new_key(), random_value(rng)) for _ in range(20)]
    last.append((new_key(), rng.randbytes(MAX_VALUE)))
    last += [(rng.choice(writer.keys), b"last batch %d" % i) for i in range(10)]
    last += [(rng.choice(writer.keys), None) for _ in range(10)]
    last.append((b"", b"empty key, last batch"))
    writer.apply(last)


# ----- commands -----------------------------------------------------------------


def child(args):
    """Opens, (checks,) writes, reports levels, then dies without closing."""
    db = open_db(args.dir, args, create=bool(args.create))
    if args.check:
        live, absent = read_state(args.check)
        verify(db, live, absent, "LevelDB opening lsmkit's database")
    else:
        live, absent = {}, set()
    workload(db, live, absent, args)
    write_state(args.child_state, live, absent)
    sys.stdout.write("levels %s\n" % " ".join(str(n) for n in levels(db)))
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def session(args):
    with tempfile.TemporaryDirectory() as scratch:
        child_state = os.path.join(scratch, "child.state")
        command = [sys.executable, os.path.abspath(__file__), "child", args.dir, child_state]
        command += ["--seed", str(args.seed)]
        command += ["--block-size", str(args.block_size), "--restart", str(args.restart)]
        if args.create:
            command += ["--create", str(args.create)]
        if args.check:
            command += ["--check", args.check]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if result.returncode != -signal.SIGKILL:
            raise Mismatch(
                "writer exited with %d, not SIGKILL:\n%s%s" % (result.returncode, result.stdout, result.stderr)
            )
        counts = [int(n) for n in result.stdout.split("levels ", 1)[1].split()]
        if sum(1 for n in counts if n) < 3:
            raise Mismatch("files per level %s: fewer than 3 non-empty levels" % counts)
        logs = [name for name in os.listdir(args.dir) if name.endswith(".log")]
        if not any(os.path.getsize(os.path.join(args.dir, name)) for name in logs):
            raise Mismatch("no non-empty WAL in %s: %s" % (args.dir, sorted(os.listdir(args.dir))))
        live, absent = read_state(child_state)
        # What LevelDB itself recovers after the crash, on a copy of the directory.
        copy = os.path.join(scratch, "copy")
        shutil.copytree(args.dir, copy)
        db = open_db(copy, args, create=False)
        verify(db, live, absent, "LevelDB recovering its own crashed database")
        db.close()
        write_state(args.out, live, absent)
        sys.stdout.write(
            "files per level %s; %d live keys, %d absent keys\n" % (counts, len(live), len(absent))
        )


def check(args):
    live, absent = read_state(args.state)
    db = open_db(args.dir, args, create=False)
    verify(db, live, absent, "LevelDB opening lsmkit's database")
    db.close()
    sys.stdout.write("%d live keys, %d absent keys match\n" % (len(live), len(absent)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("session", "child"):
        p = commands.add_parser(name)
        p.add_argument("dir")
        p.add_argument("out" if name == "session" else "child_state")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--create", type=int, default=0)
        p.add_argument("--check")
        p.add_argument("--block-size", type=int, default=4096)
        p.add_argument("--restart", type=int, default=16)
    p = commands.add_parser("check")
    p.add_argument("dir")
    p.add_argument("state")
    p.add_argument("--block-size", type=int, default=4096)
    p.add_argument("--restart", type=int, default=16)
    args = parser.parse_args()
    try:
        {"session": session, "child": child, "check": check}[args.command](args)
    except Mismatch as e:
        sys.stderr.write("engine_leveldb.py: %s\n" % e)
        sys.exit(1)


if __name__ == "__main__":
    main()
