#!/usr/bin/env python3
"""Deterministic fixture generator for pail's benchmark (standard library only).

    gen.py tree DIR --n N [--seed 42] [--min-size B] [--max-size B]
                                        create N files under DIR
    gen.py delta DIR [--seed 42] [--scatter]
                                        apply one "next day" change to DIR
    gen.py rows FILE --n N [--seed 42] [--change F] [--change-seed 1] [--cluster]
                                        write N JSON rows {"id", "text", "value"}
                                        (one per line) to FILE; with --change F,
                                        a fraction F of them (chosen by
                                        --change-seed) get a different text and
                                        value, everything else byte-identical

Layout of `tree`: DIR/dTTT/dMM/fNNNNNN.ext, 100 files per leaf folder, 100
leaf folders per top folder (N = 100,000 -> d000..d009; 1,000,000 -> d000..d099).
Extensions are mixed (jpg, png, json, txt, pdf, wav, ...). Sizes are
log-uniform between 512 B and 16 KiB (mean about 4.5 KiB; --min-size and
--max-size change the range, e.g. 1024..28672 gives a mean of about 8.1 KiB), content is random
bytes from random.Random(seed), and every mtime is a fixed timestamp, so two
runs with the same N produce byte-identical trees with identical listings.

`delta` (deterministic given the tree it is applied to):
  * adds 1,200 new files in a NEW top folder (a new day's batch, 12 leaves),
  * rewrites 100 existing files that sit together in one folder region
    (consecutive in sorted order; each gets a different size and new bytes),
  * deletes 50 existing files that sit together in another folder region.

`delta --scatter`: the same counts (and the same seed default), spread at random
over the whole tree instead:
  * adds 1,200 new files, each in the folder of a randomly chosen existing file
    (chosen without repeats) and named after it with an "a" before the
    extension (fNNNNNN.jpg -> fNNNNNNa.EXT), so it sorts between that file and
    the next one,
  * rewrites 100 and deletes 50 existing files chosen at random from all files.
"""

import argparse
import os
import random
import sys
import time

FILES_PER_LEAF = 100
LEAVES_PER_TOP = 100
MIN_SIZE = 512
MAX_SIZE = 16 * 1024
# Fixed mtime for generated files: 2024-01-01T00:00:00Z.
BASE_MTIME = 1704067200

# (extension, weight): image-heavy, like a typical ML corpus.
EXTENSIONS = [
    ("jpg", 40),
    ("png", 15),
    ("json", 15),
    ("txt", 10),
    ("wav", 8),
    ("pdf", 5),
    ("csv", 4),
    ("parquet", 3),
]
EXT_NAMES = [e for e, _ in EXTENSIONS]
EXT_CUM = []
_acc = 0
for _e, _w in EXTENSIONS:
    _acc += _w
    EXT_CUM.append(_acc)

DELTA_ADD = 1200
DELTA_MODIFY = 100
DELTA_DELETE = 50


def rand_size(rng, lo=MIN_SIZE, hi=MAX_SIZE):
    # log-uniform in [lo, hi] (default [MIN_SIZE, MAX_SIZE])
    return min(hi, int(lo * (hi / lo) ** rng.random()))


def rand_ext(rng):
    return rng.choices(EXT_NAMES, cum_weights=EXT_CUM)[0]


def file_digits(n):
    return max(6, len(str(max(n - 1, 0))))


def write_file(path, data, mtime):
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def leaf_dir(root, leaf):
    return os.path.join(root, "d%03d" % (leaf // LEAVES_PER_TOP), "d%02d" % (leaf % LEAVES_PER_TOP))


def cmd_tree(args):
    root = args.dir
    n = args.n
    if n < 0:
        sys.exit("gen.py: --n must be >= 0")
    if not 0 < args.min_size <= args.max_size:
        sys.exit("gen.py: need 0 < --min-size <= --max-size")
    if os.path.isdir(root) and os.listdir(root):
        sys.exit("gen.py: %s exists and is not empty" % root)
    os.makedirs(root, exist_ok=True)
    rng = random.Random(args.seed)
    digits = file_digits(n)
    fmt = "f%%0%dd.%%s" % digits
    t0 = time.monotonic()
    total = 0
    current_leaf = -1
    dpath = None
    for k in range(n):
        leaf = k // FILES_PER_LEAF
        if leaf != current_leaf:
            current_leaf = leaf
            dpath = leaf_dir(root, leaf)
            os.makedirs(dpath, exist_ok=True)
        size = rand_size(rng, args.min_size, args.max_size)
        ext = rand_ext(rng)
        data = rng.randbytes(size)
        write_file(os.path.join(dpath, fmt % (k, ext)), data, BASE_MTIME + k)
        total += size
        if args.progress and k and k % 100000 == 0:
            print("  %d files ..." % k, file=sys.stderr)
    # Fixed mtimes on directories too (after their files are written).
    for dirpath, _dirnames, _files in os.walk(root, topdown=False):
        os.utime(dirpath, (BASE_MTIME, BASE_MTIME))
    dt = time.monotonic() - t0
    leaves = (n + FILES_PER_LEAF - 1) // FILES_PER_LEAF
    print(
        "tree: %d files, %.1f MiB, %d leaf folders under %s (seed %d) in %.1f s"
        % (n, total / 2**20, leaves, root, args.seed, dt)
    )


def sorted_dirs(path, prefix="d"):
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    return sorted(x for x in names if x.startswith(prefix) and os.path.isdir(os.path.join(path, x)))


def region(root, leaves, start, count, exclude=()):
    """`count` consecutive files (sorted order) starting at leaf index `start`,
    wrapping over the sorted leaf list; files in `exclude` are skipped."""
    picked = []
    for i in range(len(leaves)):
        d = os.path.join(root, *leaves[(start + i) % len(leaves)])
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if p in exclude or not os.path.isfile(p):
                continue
            picked.append(p)
            if len(picked) == count:
                return picked
    return picked


def rewrite(rng, p, now):
    """New bytes of a different size for p, with a clearly newer mtime; returns the size."""
    old = os.path.getsize(p)
    size = rand_size(rng)
    while size == old:
        size = rand_size(rng)
    with open(p, "wb") as f:
        f.write(rng.randbytes(size))
    # A clearly newer mtime even on coarse-timestamp filesystems.
    os.utime(p, (now, now))
    return size


def delta_scatter(args, root, leaves, rng, now):
    """The same counts as the clustered delta, spread at random over the tree."""
    files = []
    for leaf in leaves:
        d = os.path.join(root, *leaf)
        files.extend(os.path.join(d, name) for name in sorted(os.listdir(d)) if os.path.isfile(os.path.join(d, name)))
    if len(files) < DELTA_MODIFY + DELTA_DELETE:
        sys.exit("gen.py: --scatter needs at least %d files in %s" % (DELTA_MODIFY + DELTA_DELETE, root))
    picked = rng.sample(files, DELTA_MODIFY + DELTA_DELETE)
    modified, deleted = sorted(picked[:DELTA_MODIFY]), sorted(picked[DELTA_MODIFY:])
    anchors = sorted(rng.sample(files, min(DELTA_ADD, len(files))))
    mod_bytes = sum(rewrite(rng, p, now) for p in modified)
    for p in deleted:
        os.remove(p)
    add_bytes = 0
    for a in anchors:
        d, name = os.path.split(a)
        stem = name.split(".", 1)[0]
        size = rand_size(rng)
        write_file(os.path.join(d, "%sa.%s" % (stem, rand_ext(rng))), rng.randbytes(size), None)
        add_bytes += size

    def folders(paths):
        return len({os.path.dirname(p) for p in paths})

    touched = folders(modified + deleted + anchors)
    print("delta --scatter on %s (seed %d):" % (root, args.seed))
    print("  added    %5d files, %.1f MiB, in %d random folders" % (len(anchors), add_bytes / 2**20, folders(anchors)))
    print("  modified %5d files, %.1f MiB rewritten, in %d random folders" % (len(modified), mod_bytes / 2**20, folders(modified)))
    print("  deleted  %5d files, in %d random folders" % (len(deleted), folders(deleted)))
    print("  %d of %d leaf folders touched" % (touched, len(leaves)))


def cmd_delta(args):
    root = args.dir
    tops = sorted_dirs(root)
    if not tops:
        sys.exit("gen.py: %s has no dTTT folders; run `gen.py tree` first" % root)
    rng = random.Random(args.seed)
    leaves = [(t, m) for t in tops for m in sorted_dirs(os.path.join(root, t))]
    if not leaves:
        sys.exit("gen.py: %s has no leaf folders" % root)
    now = time.time()
    if args.scatter:
        delta_scatter(args, root, leaves, rng, now)
        return

    # 1. Modify: 100 consecutive files starting at a leaf in the middle half.
    mod_start = len(leaves) // 4 + rng.randrange(max(1, len(leaves) // 2))
    modified = region(root, leaves, mod_start, DELTA_MODIFY)
    mod_bytes = 0
    for p in modified:
        old = os.path.getsize(p)
        size = rand_size(rng)
        while size == old:
            size = rand_size(rng)
        with open(p, "wb") as f:
            f.write(rng.randbytes(size))
        mod_bytes += size
        # A clearly newer mtime even on coarse-timestamp filesystems.
        os.utime(p, (now, now))

    # 2. Delete: 50 consecutive files from a region half the tree away.
    del_start = (mod_start + len(leaves) // 2) % len(leaves)
    if len(leaves) > 1 and del_start == mod_start:
        del_start = (mod_start + 1) % len(leaves)
    deleted = region(root, leaves, del_start, DELTA_DELETE, exclude=set(modified))
    for p in deleted:
        os.remove(p)

    # 3. Add: 1,200 files in a new top folder (next index), 100 per leaf.
    new_top_idx = max(int(t[1:]) for t in tops if t[1:].isdigit()) + 1
    new_top = "d%03d" % new_top_idx
    first_k = new_top_idx * LEAVES_PER_TOP * FILES_PER_LEAF
    digits = max(6, len(str(first_k + DELTA_ADD)))
    fmt = "f%%0%dd.%%s" % digits
    add_bytes = 0
    for i in range(DELTA_ADD):
        d = os.path.join(root, new_top, "d%02d" % (i // FILES_PER_LEAF))
        if i % FILES_PER_LEAF == 0:
            os.makedirs(d, exist_ok=False)
        size = rand_size(rng)
        write_file(os.path.join(d, fmt % (first_k + i, rand_ext(rng))), rng.randbytes(size), None)
        add_bytes += size

    def span(paths):
        rel = sorted(os.path.relpath(p, root) for p in paths)
        return "%s .. %s" % (rel[0], rel[-1]) if rel else "(none)"

    print("delta on %s (seed %d):" % (root, args.seed))
    print("  added    %5d files, %.1f MiB, in new folder %s/" % (DELTA_ADD, add_bytes / 2**20, new_top))
    print("  modified %5d files, %.1f MiB rewritten: %s" % (len(modified), mod_bytes / 2**20, span(modified)))
    print("  deleted  %5d files: %s" % (len(deleted), span(deleted)))


WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


def cmd_rows(args):
    """N JSON rows, deterministic; --change F rewrites a fraction F of them."""
    import json

    rng = random.Random(args.seed)
    changed = set()
    if args.change > 0:
        crng = random.Random(args.change_seed)
        k = int(round(args.n * args.change))
        if args.cluster:
            start = crng.randrange(args.n - k + 1)
            changed = set(range(start, start + k))
        else:
            changed = set(crng.sample(range(args.n), k))
    with open(args.file, "w") as f:
        for i in range(args.n):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 16)))
            value = rng.randrange(1_000_000)
            if i in changed:
                text = text + " (revised)"
                value = value + 1
            f.write(json.dumps({"id": i, "text": text, "value": value}) + "\n")
    print("rows: %d rows (%d changed) in %s (seed %d)" % (args.n, len(changed), args.file, args.seed))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tree", help="create N files under DIR")
    t.add_argument("dir")
    t.add_argument("--n", type=int, default=100000)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--progress", action="store_true", help="print progress every 100,000 files")
    t.add_argument("--min-size", type=int, default=MIN_SIZE, help="smallest file size in bytes (default %(default)s)")
    t.add_argument("--max-size", type=int, default=MAX_SIZE, help="largest file size in bytes (default %(default)s)")
    r = sub.add_parser("rows", help="write N JSON rows to FILE")
    r.add_argument("file")
    r.add_argument("--n", type=int, default=10000)
    r.add_argument("--seed", type=int, default=42)
    r.add_argument("--change", type=float, default=0.0, help="fraction of rows to change (0..1)")
    r.add_argument("--change-seed", type=int, default=1)
    r.add_argument("--cluster", action="store_true",
                   help="change one run of consecutive rows instead of rows at random")
    d = sub.add_parser("delta", help="apply the delta step to DIR")
    d.add_argument("dir")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--scatter", action="store_true",
                   help="spread the same counts at random over the whole tree instead of clustering them")
    args = ap.parse_args()
    if args.cmd == "tree":
        cmd_tree(args)
    elif args.cmd == "rows":
        cmd_rows(args)
    else:
        cmd_delta(args)


if __name__ == "__main__":
    main()
