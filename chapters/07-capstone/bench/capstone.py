"""The Python chapter's practice project, fixed, timed the way chapter 00 says.

The original (process_large_dataset) defines process_item inside the
function and hands it to a ProcessPoolExecutor; every item then has to be
pickled to reach a worker, and a local function cannot be pickled at all.
This script shows that error, then times the fixed job: process_item at
module level, run sequentially, on a ProcessPoolExecutor with chunksize 1 and
1000, and on a ThreadPoolExecutor.

Run it alone (python3 capstone.py --help) or through chapter 07's benchmark,
which reads the RESULT lines:

    RESULT <variant> <n> <median_s> <min_s> <max_s> <startup_s> <checksum>

startup_s is the time the same executor takes for a map over no work (0 for
the sequential loops): the benchmark scales (median - startup) by 10^6 / n
and adds startup back once. checksum is sum(results) mod 2^64, which the C
benchmark compares with its own run of the same formula.
"""
import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

INNER = 1000  # range(1000) in the formula
MASK64 = (1 << 64) - 1


def process_item(item):
    """The Python chapter's formula, at module level so that it pickles."""
    x, y = item
    return x * y + sum(i * i for i in range(INNER))


def process_item_mixed(item):
    """Chapter 07's item-dependent variant (capstone_item_mixed in C)."""
    x, y = item
    x32 = x & 0xFFFFFFFF
    return (x * y + sum((k ^ x32) * (k ^ x32) for k in range(INNER))) & MASK64


def make_data(n):
    return [(i, i * 2) for i in range(n)]


def run_seq(fn, data, workers, chunksize):
    return [fn(item) for item in data]


def run_processes(fn, data, workers, chunksize):
    with ProcessPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, data, chunksize=chunksize))


def run_threads(fn, data, workers, chunksize):
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, data))


def nothing(item):
    return item


def show_the_bug(workers):
    """Run the original's shape: a local function on a process pool."""
    def process_item_local(item):
        x, y = item
        return x * y + sum(i * i for i in range(INNER))

    try:
        run_processes(process_item_local, make_data(4), workers, 1)
        print("BUG the local function ran (this Python pickles it?)")
    except Exception as e:  # the pickling error, whatever its class
        print(f"BUG {type(e).__name__}: {e}")


def measure(name, runner, fn, n, runs, workers, chunksize):
    data = make_data(n)
    times = []
    results = None
    for _ in range(runs):
        t0 = time.perf_counter()
        results = runner(fn, data, workers, chunksize)
        times.append(time.perf_counter() - t0)
    startup = 0.0
    if runner is not run_seq:
        # The executor's own cost: start the workers, map a trivial
        # function over two items, shut down.
        st = []
        for _ in range(runs):
            t0 = time.perf_counter()
            runner(nothing, [(0, 0), (1, 2)], workers, 1)
            st.append(time.perf_counter() - t0)
        startup = statistics.median(st)
    checksum = sum(results) & MASK64
    print(f"RESULT {name} {n} {statistics.median(times):.6f} {min(times):.6f}"
          f" {max(times):.6f} {startup:.6f} {checksum}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100000,
                    help="items for the sequential loop and chunksize 1000")
    ap.add_argument("--n-slow", type=int, default=10000,
                    help="items for chunksize 1, threads and the mixed loop")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default="",
                    help="comma-separated variants to run (default: all)")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))

    print(f"PYTHON {sys.version.split()[0]} ({sys.executable})", flush=True)
    if not only:
        show_the_bug(a.workers)
    variants = [
        ("seq", run_seq, process_item, a.n, 1),
        ("processes-chunk1000", run_processes, process_item, a.n, 1000),
        ("processes-chunk1", run_processes, process_item, a.n_slow, 1),
        ("threads", run_threads, process_item, a.n_slow, 1),
        ("seq-mixed", run_seq, process_item_mixed, a.n_slow, 1),
    ]
    for name, runner, fn, n, chunksize in variants:
        if not only or name in only:
            measure(name, runner, fn, n, a.runs, a.workers, chunksize)


if __name__ == "__main__":
    main()
