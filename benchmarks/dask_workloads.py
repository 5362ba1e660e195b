"""One dask.distributed workload on a fresh LocalCluster, for `npm run bench:dask`.

    /usr/bin/python3 dask_workloads.py --workload NAME [--size N] [--quick]
                                       [--processes 0|1] [--saturation default|inf]
                                       [--workers N] [--direct 0|1] [--rounds N]

Prints exactly one JSON line on stdout:
    {"workload": NAME, "value": 123.4, "unit": "tasks/s", "size": N, "processes": 0, "saturation": "default"}
Everything else (dask's own logging) goes to stderr. The exit code is non-zero
and no JSON is printed when distributed cannot be imported or the workload fails.

Clusters mirror the TypeScript benchmark: in-process is 1 worker x 2 threads,
processes is 2 worker processes x 1 thread each (--workers overrides the
count). Task bodies are tiny pure functions so the figures measure dask's
per-task overhead, not the work.
"""

import argparse
import json
import os
import statistics
import sys
import time
from operator import add


def inc(x):
    return x + 1


# Full size and --quick size of every workload; --size overrides both.
SIZES = {
    "round-trip": (200, 50),
    "submits": (5_000, 500),
    "map": (20_000, 2_000),
    "chain": (2_000, 200),
    "tree": (4_096, 512),
    "scatter-gather": (100_000_000, 10_000_000),
    "transfer": (100_000_000, 20_000_000),
    "startup": (1, 1),
    "map-returns": (1_000_000, 100_000),
}


def cluster_options(processes, workers=None):
    common = {"dashboard_address": None, "silence_logs": 40}  # logging.ERROR
    if processes:
        return {**common, "processes": True, "n_workers": workers or 2, "threads_per_worker": 1}
    return {**common, "processes": False, "n_workers": workers or 1, "threads_per_worker": 2}


def round_trip(client, n):
    """Median µs of one submit -> result with nothing else in flight."""
    for i in range(10):
        client.submit(inc, -1 - i).result()
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        client.submit(inc, i).result()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6, "µs"


def warm_up(client):
    client.gather(client.map(inc, range(-50, 0)))


def submits(client, n):
    """n separate submit() calls, then one gather: tasks/s end to end."""
    warm_up(client)
    t0 = time.perf_counter()
    futures = [client.submit(inc, i) for i in range(n)]
    client.gather(futures)
    return n / (time.perf_counter() - t0), "tasks/s"


def map_then_gather(client, n):
    warm_up(client)
    t0 = time.perf_counter()
    client.gather(client.map(inc, range(n)))
    return n / (time.perf_counter() - t0), "tasks/s"


def chain(client, n):
    """Each task depends on the previous one: ms per task, submission included."""
    warm_up(client)
    t0 = time.perf_counter()
    future = client.submit(inc, 0)
    for _ in range(n - 1):
        future = client.submit(inc, future)
    result = future.result()
    elapsed = time.perf_counter() - t0
    if result != n:
        raise RuntimeError(f"chain returned {result}, expected {n}")
    return elapsed * 1000 / n, "ms/task"


def tree(client, leaves):
    """Map over the leaves, then pairwise add() levels down to one: seconds."""
    warm_up(client)
    t0 = time.perf_counter()
    level = client.map(inc, range(leaves))
    while len(level) > 1:
        pairs = [client.submit(add, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    total = level[0].result()
    elapsed = time.perf_counter() - t0
    expected = leaves * (leaves + 1) // 2
    if total != expected:
        raise RuntimeError(f"tree returned {total}, expected {expected}")
    return elapsed, "s"


def scatter_gather(client, nbytes, direct=False, rounds=1):
    """Scatter one bytes object, gather it back: payload MB (10^6 B) / total seconds.

    hash=False skips tokenizing the payload, dask's fastest way to scatter.
    direct=True has the client write to and read from the worker itself (the
    scheduler only records where the value is), as our line-rate benchmark does.
    One full-size warm-up round (connections, first allocations), then `rounds`
    rounds; the figure is the median round, with scatter alone and gather alone
    (each their own median) and every round's figures as extra fields."""
    data = os.urandom(nbytes)
    direct_arg = True if direct else None  # None: dask's default (via the scheduler here)
    totals, scatters, gathers = [], [], []

    def once():
        t0 = time.perf_counter()
        future = client.scatter(data, hash=False, direct=direct_arg)
        t1 = time.perf_counter()
        back = client.gather(future, direct=direct_arg)
        t2 = time.perf_counter()
        if len(back) != nbytes or back[-1] != data[-1] or back[0] != data[0]:
            raise RuntimeError(f"gathered {len(back)} bytes that differ from the {nbytes} scattered")
        del back
        future.release()
        mb = nbytes / 1e6
        return mb / (t2 - t0), mb / (t1 - t0), mb / (t2 - t1)

    once()
    for _ in range(max(1, rounds)):
        total, scatter, gather = once()
        totals.append(total)
        scatters.append(scatter)
        gathers.append(gather)
    extra = {
        "scatter": statistics.median(scatters),
        "gather": statistics.median(gathers),
        "rounds": [round(x, 1) for x in totals],
        "scatter_rounds": [round(x, 1) for x in scatters],
        "gather_rounds": [round(x, 1) for x in gathers],
        "direct": bool(direct),
    }
    return statistics.median(totals), "MB/s", extra


def produce(nbytes):
    """Like benchmarks/processes.ts: zeros with one non-zero byte every 4096."""
    data = bytearray(nbytes)
    for i in range(0, nbytes, 4096):
        data[i] = i & 255
    return bytes(data)


def transfer_once(client, a, b, nbytes):
    made = client.submit(produce, nbytes, workers=[a], pure=False)
    made.result()
    if a not in client.who_has(made).get(made.key, ()):
        raise RuntimeError(f"the {nbytes} B value is not on {a}")
    t0 = time.perf_counter()
    length = client.submit(len, made, workers=[b], pure=False).result()
    elapsed = time.perf_counter() - t0
    if length != nbytes:
        raise RuntimeError(f"the consumer saw {length} bytes, expected {nbytes}")
    return elapsed


def transfer(client, nbytes):
    """A task pinned to worker A makes the bytes, a task pinned to B reads their length:
    MB (10^6 B) / seconds from submitting the reader to its result. Needs 2 workers."""
    workers = sorted(client.scheduler_info()["workers"])
    if len(workers) < 2:
        raise RuntimeError("the transfer needs two workers (--processes 1)")
    a, b = workers[:2]
    transfer_once(client, a, b, min(10_000_000, nbytes))
    return nbytes / 1e6 / transfer_once(client, a, b, nbytes), "MB/s"


def map_returns(client, n):
    """How long `client.map(inc, range(n))` holds the caller: ms until it returns
    its futures (dask builds every key and sends the graph before returning).
    The tasks are not waited for: the process exits right after printing."""
    warm_up(client)
    t0 = time.perf_counter()
    futures = client.map(inc, range(n))
    elapsed = time.perf_counter() - t0
    if len(futures) != n:
        raise RuntimeError(f"map returned {len(futures)} futures, expected {n}")
    return elapsed * 1000, "ms"


WORKLOADS = {
    "round-trip": round_trip,
    "submits": submits,
    "map": map_then_gather,
    "chain": chain,
    "tree": tree,
    "scatter-gather": scatter_gather,
    "transfer": transfer,
    "map-returns": map_returns,
}

# Workloads that leave work running: print the figure and exit without a
# (long, irrelevant) cluster shutdown.
EXIT_AFTER_FIGURE = {"map-returns"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True, choices=sorted(SIZES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", type=int)
    parser.add_argument("--processes", type=int, choices=(0, 1), default=0)
    parser.add_argument(
        "--saturation",
        choices=("default", "inf"),
        default="default",
        help="distributed.scheduler.worker-saturation; inf sends every ready task to workers at once",
    )
    parser.add_argument("--workers", type=int, help="number of workers (default: 2 processes or 1 in-process)")
    parser.add_argument("--direct", type=int, choices=(0, 1), default=0, help="scatter-gather: client <-> worker directly")
    parser.add_argument("--rounds", type=int, default=1, help="scatter-gather: measured rounds after one warm-up (median)")
    args = parser.parse_args()
    size = args.size if args.size is not None else SIZES[args.workload][1 if args.quick else 0]

    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as error:
        print(f"dask.distributed is not importable ({error}); install it with: apt-get install python3-distributed", file=sys.stderr)
        return 3

    if args.saturation == "inf":
        dask.config.set({"distributed.scheduler.worker-saturation": float("inf")})

    t0 = time.perf_counter()
    with LocalCluster(**cluster_options(args.processes, args.workers)) as cluster, Client(cluster) as client:
        extra = {}
        if args.workload == "startup":
            client.submit(inc, 1).result()
            value, unit = time.perf_counter() - t0, "s"
        elif args.workload == "scatter-gather":
            value, unit, extra = scatter_gather(client, size, direct=args.direct == 1, rounds=args.rounds)
        else:
            value, unit = WORKLOADS[args.workload](client, size)
        line = {
            "workload": args.workload,
            "value": value,
            "unit": unit,
            "size": size,
            "processes": args.processes,
            "saturation": args.saturation,
            "dask": dask.__version__,
            **extra,
        }
        print(json.dumps(line, ensure_ascii=False), flush=True)
        if args.workload in EXIT_AFTER_FIGURE:
            sys.stderr.flush()
            os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
