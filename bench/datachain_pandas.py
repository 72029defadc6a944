#!/usr/bin/env python3
"""DataChain's side of bench/python.sh's to_pandas comparison (PAIL_BENCH_DATACHAIN=1).

    datachain_pandas.py ROWS_JSONL      save the rows as a DataChain dataset, then time
                                        read_dataset(...).to_pandas(), best of 3

Prints the seconds on stdout.
"""

import sys
import time

import datachain as dc
import pandas as pd


def main():
    frame = pd.read_json(sys.argv[1], lines=True)
    dc.read_pandas(frame).save("bench_rows")
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        out = dc.read_dataset("bench_rows").to_pandas()
        elapsed = time.perf_counter() - t0
        assert len(out) == len(frame), len(out)
        best = elapsed if best is None else min(best, elapsed)
    print("%.4f" % best)


if __name__ == "__main__":
    main()
