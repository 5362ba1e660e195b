"""One dask.distributed workload on a fresh LocalCluster, for `npm run bench:dask`.

    /usr/bin/python3 dask_workloads.py --workload NAME [--size N] [--quick]
                                       [--processes 0|1] [--saturation default|inf]

Prints exactly one JSON line on stdout:
    {"workload": NAME, "value": 123.4, "unit": "tasks/s", "size": N, "processes": 0, "saturation": "default"}
Everything else (dask's own logging) goes to stderr. The exit code is non-zero
and no JSON is printed when distributed cannot be imported or the workload fails.

Clusters mirror the TypeScript benchmark: in-process is 1 worker x 2 threads,
processes is 2 worker processes x 1 thread each. Task bodies are tiny pure
functions so the figures measure dask's per-task overhead, not the work.
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
}


def cluster_options(processes):
    common = {"dashboard_address": None, "silence_logs": 40}  # logging.ERROR
    if processes:
        return {**common, "processes": True, "n_workers": 2, "threads_per_worker": 1}
    return {**common, "processes": False, "n_workers": 1, "threads_per_worker": 2}


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


def scatter_gather(client, nbytes):
    """Scatter one bytes object, gather it back: payload MB (10^6 B) / total seconds.

    hash=False skips tokenizing the payload, dask's fastest way to scatter."""
    data = os.urandom(nbytes)
    small = client.scatter(b"warm-up", hash=False)
    client.gather(small)
    t0 = time.perf_counter()
    future = client.scatter(data, hash=False)
    back = client.gather(future)
    elapsed = time.perf_counter() - t0
    if len(back) != nbytes:
        raise RuntimeError(f"gathered {len(back)} bytes, expected {nbytes}")
    return nbytes / 1e6 / elapsed, "MB/s"


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


WORKLOADS = {
    "round-trip": round_trip,
    "submits": submits,
    "map": map_then_gather,
    "chain": chain,
    "tree": tree,
    "scatter-gather": scatter_gather,
    "transfer": transfer,
}


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
    with LocalCluster(**cluster_options(args.processes)) as cluster, Client(cluster) as client:
        if args.workload == "startup":
            client.submit(inc, 1).result()
            value, unit = time.perf_counter() - t0, "s"
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
        }
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
