#!/usr/bin/env python3
"""The DataChain side of bench/run.sh's side-by-side mode (PAIL_BENCH_DATACHAIN=1).

    datachain_bench.py index DIR NAME     read_storage(DIR) and save it as NAME
    datachain_bench.py diff NAME          NAME's first version vs its latest, counts
    datachain_bench.py filter NAME        count where file.size > 8192
    datachain_bench.py group_by NAME      extension, count, sum(file.size)

Each run is one process, timed from outside like pail's commands (so Python's import
time counts, as it does for a user). It prints the answer and the in-process seconds
(after the import) on stderr, for the in-process column.
"""

import sys
import time

T0 = time.perf_counter()
import datachain as dc  # noqa: E402

T_IMPORT = time.perf_counter()


def main():
    cmd = sys.argv[1]
    if cmd == "index":
        directory, name = sys.argv[2], sys.argv[3]
        uri = directory if "://" in directory else "file://" + directory.rstrip("/") + "/"
        dc.read_storage(uri, update=True).save(name)
        answer = "saved"
    elif cmd == "filter":
        answer = dc.read_dataset(sys.argv[2]).filter(dc.C("file.size") > 8192).count()
    elif cmd == "group_by":
        chain = (
            dc.read_dataset(sys.argv[2])
            .mutate(ext=dc.func.path.file_ext("file.path"))
            .group_by(n=dc.func.count(), bytes=dc.func.sum("file.size"), partition_by="ext")
            .order_by("n", descending=True)
        )
        answer = chain.to_list("ext", "n", "bytes")
    elif cmd == "diff":
        name = sys.argv[2]
        old = dc.read_dataset(name, version="1.0.0")
        new = dc.read_dataset(name)
        status = new.diff(old, on="file.path", compare=["file.size", "file.etag"], status_col="st")
        counts = {}
        for (st,) in status.to_iter("st"):
            counts[st] = counts.get(st, 0) + 1
        answer = counts
    else:
        sys.exit("unknown command " + cmd)
    t_end = time.perf_counter()
    print(answer)
    print("import %.3f s, in-process %.3f s" % (T_IMPORT - T0, t_end - T_IMPORT), file=sys.stderr)


if __name__ == "__main__":
    main()
