"""Python-level benchmark: lsmkit against plyvel (the real LevelDB 1.23) on
the same data, in one process, rounds alternating which engine goes first.

Each round, for each engine, in a fresh directory with the same options
(plyvel's defaults: Snappy, no bloom filter, 8 MiB cache, 4 MiB memtable):
  fillseq      N single puts, keys in order
  fillrandom   N single puts, keys in random order (a second database)
  fillbatch    N puts in write batches of 1000, random order (a third)
  readrandom   N gets of random existing keys (on the fillrandom database,
               after compact_range)
  readmissing  N gets of absent keys
  iterate      a forward scan of every (key, value)
  iterate_rev  a reverse scan
  iterate_keys a forward scan of the keys only
and prints operations per second (median over the rounds) and the ratio.
`--engines` and `--workloads` narrow the run (fillrandom always runs: the
reads use its database); two runs under callgrind that differ by one
workload give that workload's instructions per operation (see
docs/benchmarks.md).

Run from a venv of /usr/bin/python3 with --system-site-packages (plyvel is
Debian's python3-plyvel) with lsmkit installed:
    python python/bench.py --num 200000 --rounds 3
"""

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time

import plyvel

import lsmkit


WORKLOADS = ["fillseq", "fillrandom", "fillbatch", "readrandom", "readmissing",
             "iterate", "iterate_rev", "iterate_keys"]


def key(i):
    return b"%016d" % i


def run_engine(module, base, args, order, value):
    results = {}
    n = args.num

    def timed(name, count, f):
        if name not in args.workloads and name != "fillrandom":
            return
        start = time.perf_counter()
        f()
        if name in args.workloads:
            results[name] = count / (time.perf_counter() - start)

    def open_db(sub):
        return module.DB(os.path.join(base, sub), create_if_missing=True)

    db = open_db("seq")

    def fillseq():
        put = db.put
        for i in range(n):
            put(key(i), value)
    timed("fillseq", n, fillseq)
    db.close()

    db = open_db("random")

    def fillrandom():
        put = db.put
        for i in order:
            put(key(i), value)
    timed("fillrandom", n, fillrandom)

    batch_db = open_db("batch")

    def fillbatch():
        for lo in range(0, n, 1000):
            with batch_db.write_batch() as wb:
                for i in order[lo:lo + 1000]:
                    wb.put(key(i), value)
    timed("fillbatch", n, fillbatch)
    batch_db.close()

    db.compact_range()
    reads = order[: args.reads]

    def readrandom():
        get = db.get
        found = 0
        for i in reads:
            if get(key(i)) is not None:
                found += 1
        assert found == len(reads)
    timed("readrandom", len(reads), readrandom)

    def readmissing():
        get = db.get
        for i in reads:
            assert get(key(i) + b".") is None
    timed("readmissing", len(reads), readmissing)

    def scan(**kwargs):
        def f():
            count = 0
            for _ in db.iterator(**kwargs):
                count += 1
            assert count == n
        return f
    timed("iterate", n, scan())
    timed("iterate_rev", n, scan(reverse=True))
    timed("iterate_keys", n, scan(include_value=False))
    db.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=200000)
    parser.add_argument("--reads", type=int, default=None, help="gets per read workload (default --num)")
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=301)
    parser.add_argument("--engines", default="lsmkit,plyvel", help="comma-separated: lsmkit, plyvel")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, from: " + ", ".join(WORKLOADS))
    args = parser.parse_args()
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        parser.error("unknown workloads: %s" % ", ".join(sorted(unknown)))
    args.reads = args.reads or args.num
    rng = random.Random(args.seed)
    order = list(range(args.num))
    rng.shuffle(order)
    # Half-compressible values, as db_bench makes them.
    half = bytes(rng.getrandbits(8) for _ in range(args.value_size // 2))
    value = (half + b"x" * args.value_size)[: args.value_size]

    chosen = args.engines.split(",")
    engines = [(name, module) for name, module in (("lsmkit", lsmkit), ("plyvel", plyvel)) if name in chosen]
    if not engines:
        parser.error("--engines must name lsmkit, plyvel or both")
    samples = {name: {} for name, _ in engines}
    for r in range(args.rounds):
        for name, module in (engines if r % 2 == 0 else engines[::-1]):
            base = tempfile.mkdtemp(prefix="bench-%s-" % name)
            try:
                for workload, ops in run_engine(module, base, args, order, value).items():
                    samples[name].setdefault(workload, []).append(ops)
            finally:
                shutil.rmtree(base)

    print("lsmkit %s vs plyvel %s (LevelDB %s): --num %d --reads %d --value-size %d, median of %d rounds"
          % (lsmkit.__version__, plyvel.__version__, plyvel.__leveldb_version__,
             args.num, args.reads, args.value_size, args.rounds))
    print()
    names = [name for name, _ in engines]
    both = len(names) == 2
    print("| workload | " + " | ".join("%s ops/s" % n for n in names) + (" | lsmkit / plyvel |" if both else " |"))
    print("|---|" + "---:|" * (len(names) + both))
    for workload in args.workloads:
        rates = [statistics.median(samples[n][workload]) for n in names]
        cells = [format(round(r), ",") for r in rates] + (["%.2f" % (rates[0] / rates[1])] if both else [])
        print("| %s | %s |" % (workload, " | ".join(cells)))


if __name__ == "__main__":
    main()
