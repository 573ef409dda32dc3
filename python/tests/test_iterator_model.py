"""plyvel's iterator semantics checked against a model: random key sets,
ranges (start/stop, each included or not, prefixes, prefixed databases),
directions and random walks of next(), prev(), seek(), seek_to_start() and
seek_to_stop(), compared step by step with a cursor over a sorted list."""

import random

import pytest

import lsmkit


class Model:
    """A cursor between the entries of the sorted list `keys`: next()
    returns the entry after it, prev() the one before it."""

    def __init__(self, keys, reverse):
        self.keys = keys
        self.reverse = reverse
        self.i = len(keys) if reverse else 0

    def forward(self):
        if self.i == len(self.keys):
            raise StopIteration
        self.i += 1
        return self.keys[self.i - 1]

    def backward(self):
        if self.i == 0:
            raise StopIteration
        self.i -= 1
        return self.keys[self.i]

    def next(self):
        return self.backward() if self.reverse else self.forward()

    def prev(self):
        return self.forward() if self.reverse else self.backward()

    def seek(self, target, low, high):
        # The target is kept inside [low, high] (the range's ends).
        if low is not None and target < low:
            target = low
        if high is not None and target > high:
            target = high
        self.i = sum(1 for k in self.keys if k < target)


def in_range(k, start, stop, include_start, include_stop):
    if start is not None and (k < start or (k == start and not include_start)):
        return False
    if stop is not None and (k > stop or (k == stop and not include_stop)):
        return False
    return True


def outcome(f):
    try:
        return f()
    except StopIteration:
        return StopIteration


ALPHABET = [b"a", b"b", b"c", b"\x00", b"\xff"]


def random_key(rng):
    return b"".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 3)))


@pytest.mark.parametrize("seed", range(8))
def test_iterators_follow_the_model(db, seed):
    rng = random.Random(seed)
    live = {}
    for _ in range(60):
        k = random_key(rng)
        if rng.random() < 0.2:
            db.delete(k)
            live.pop(k, None)
        else:
            db.put(k, k + b"!")
            live[k] = k + b"!"
    if seed % 2:
        db.compact_range()
    all_keys = sorted(live)
    db_prefix = rng.choice([None, b"a", b"b"]) if seed >= 4 else None
    view = db.prefixed_db(db_prefix) if db_prefix is not None else db
    view_keys = ([k[len(db_prefix):] for k in all_keys if k.startswith(db_prefix)]
                 if db_prefix is not None else all_keys)

    for _ in range(60):
        reverse = rng.random() < 0.5
        kwargs = dict(reverse=reverse, include_value=False)
        if rng.random() < 0.25:
            prefix = random_key(rng)[:2]
            kwargs["prefix"] = prefix
            keys = [k for k in view_keys if k.startswith(prefix)]
            low = prefix
            high = None  # keys past the prefix are past the range anyway
        else:
            start = random_key(rng) if rng.random() < 0.6 else None
            stop = random_key(rng) if rng.random() < 0.6 else None
            include_start = rng.random() < 0.5
            include_stop = rng.random() < 0.5
            kwargs.update(start=start, stop=stop, include_start=include_start,
                          include_stop=include_stop)
            keys = [k for k in view_keys if in_range(k, start, stop, include_start, include_stop)]
            low, high = start, stop
        it = view.iterator(**kwargs)
        model = Model(keys, reverse)
        trace = []
        for _ in range(40):
            action = rng.choice(["next", "next", "prev", "seek", "start", "stop"])
            if action == "next":
                got, want = outcome(lambda: next(it)), outcome(model.next)
            elif action == "prev":
                got, want = outcome(it.prev), outcome(model.prev)
            elif action == "seek":
                target = random_key(rng)
                it.seek(target)
                model.seek(target, low, high)
                got = want = None
                action = "seek %r" % target
            elif action == "start":
                it.seek_to_start()
                model.i = 0
                got = want = None
            else:
                it.seek_to_stop()
                model.i = len(keys)
                got = want = None
            trace.append(action)
            assert got == want, (kwargs, db_prefix, keys, trace)
        # And a plain run from a fresh iterator gives the whole range.
        assert list(view.iterator(**kwargs)) == (keys[::-1] if reverse else keys)


def test_edges_where_plyvel_differs(db):
    """Two edges where plyvel 1.5 answers wrongly and lsmkit follows the
    documented semantics: a reverse iterator whose last entry is an
    included start key (plyvel yields nothing), and a seek to an excluded
    start key (plyvel returns that key)."""
    for k in (b"1", b"2", b"3"):
        db.put(k, k)
    assert list(db.iterator(start=b"3", reverse=True, include_value=False)) == [b"3"]
    it = db.iterator(start=b"2", reverse=True, include_value=False)
    assert [next(it), next(it)] == [b"3", b"2"]
    it = db.iterator(start=b"2", include_start=False, include_value=False)
    it.seek(b"2")
    assert next(it) == b"3"
    it.seek(b"0")
    with pytest.raises(StopIteration):
        it.prev()
    assert next(it) == b"3"
