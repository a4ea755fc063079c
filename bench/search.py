"""`bench/run search`, the peers' side and the report.

    search.py generate DIR N...      write base-N.npy (N x 128 unit float32) and queries.npy (1000 x 128), fixed seed
    search.py peers DIR THREADS N... FAISS IndexFlatIP (+ sqlite-vec vec0 when THREADS == 1) timings as JSON on stdout
    search.py report DIR             read ours-T.json / peers-T.json and print the table with ratios

Same measurements as bench/swift/SearchBench.swift: single-query latency (median, k = 10), batched
throughput (1000 queries, k = 10), all-against-all top-10 of 100 000 vectors (FAISS: search of every vector
with k = 11, the first hit being the vector itself).
"""
import json
import os
import statistics
import sys
import time

import numpy as np

D = 128
QUERIES = 1000


def unit_rows(rng, n):
    x = rng.standard_normal((n, D), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def generate(directory, sizes):
    rng = np.random.default_rng(20260101)
    np.save(os.path.join(directory, "queries.npy"), unit_rows(rng, QUERIES))
    for n in sizes:
        np.save(os.path.join(directory, f"base-{n}.npy"), unit_rows(np.random.default_rng(n), n))


def now():
    return time.perf_counter()


def measure(body):
    """Wall and process CPU seconds of body() (CPU time is the figure least disturbed on a shared machine)."""
    c, w = time.process_time(), now()
    value = body()
    return now() - w, time.process_time() - c, value


def faiss_side(directory, threads, sizes):
    import faiss

    faiss.omp_set_num_threads(threads)
    queries = np.load(os.path.join(directory, "queries.npy"))
    result = {"threads": threads, "sizes": {}}
    for n in sizes:
        base = np.load(os.path.join(directory, f"base-{n}.npy"))
        index = faiss.IndexFlatIP(D)
        index.add(base)
        single = 50 if n >= 1_000_000 else 200
        index.search(queries[:1], 10)  # warm-up
        times, cpus, first = [], [], []
        for q in range(single):
            wall, cpu, (_, ids) = measure(lambda: index.search(queries[q : q + 1], 10))
            times.append(wall)
            cpus.append(cpu)
            if q < 20:
                first.append(ids[0].tolist())
        batch, batch_cpu, (_, batch_ids) = measure(lambda: index.search(queries, 10))
        result["sizes"][str(n)] = {
            "single_queries": single,
            "single_median_s": statistics.median(times),
            "single_median_cpu_s": statistics.median(cpus),
            "batch_queries": len(queries),
            "batch_s": batch,
            "batch_cpu_s": batch_cpu,
            "first_results": first,
            "batch_first_results": batch_ids[:20].tolist(),
        }
        print(f"faiss n={n}: single median {statistics.median(times) * 1e3:.3f} ms, batch {batch:.3f} s", file=sys.stderr)
    if 100_000 in sizes:
        base = np.load(os.path.join(directory, "base-100000.npy"))
        index = faiss.IndexFlatIP(D)
        index.add(base)
        seconds, cpu, (_, ids) = measure(lambda: index.search(base, 11))
        result["allpairs"] = {"n": 100_000, "k": 10, "s": seconds, "cpu_s": cpu, "first_results": ids[:20, 1:].tolist()}
        print(f"faiss all-pairs n=100000: {seconds:.2f} s", file=sys.stderr)
    return result


def sqlite_vec_side(directory, sizes):
    import apsw
    import sqlite_vec

    queries = np.load(os.path.join(directory, "queries.npy"))
    result = {"sizes": {}}
    for n in sizes:
        base = np.load(os.path.join(directory, f"base-{n}.npy"))
        db = apsw.Connection(":memory:")
        db.enable_load_extension(True)
        db.load_extension(sqlite_vec.loadable_path())
        db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{D}] distance_metric=cosine)")
        t = now()
        with db:
            db.executemany("INSERT INTO v(rowid, embedding) VALUES (?, ?)", ((i, base[i].tobytes()) for i in range(n)))
        load = now() - t
        # A full scan per query: fewer queries at the largest size (the median of 10 is still stable).
        single = 10 if n >= 1_000_000 else (50 if n >= 100_000 else 200)
        sql = "SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = 10"
        list(db.execute(sql, (queries[0].tobytes(),)))  # warm-up
        times, cpus, first = [], [], []
        for q in range(single):
            wall, cpu, rows = measure(lambda: list(db.execute(sql, (queries[q].tobytes(),))))
            times.append(wall)
            cpus.append(cpu)
            if q < 20:
                first.append([r[0] for r in rows])
        result["sizes"][str(n)] = {
            "single_queries": single,
            "single_median_s": statistics.median(times),
            "single_median_cpu_s": statistics.median(cpus),
            "load_s": load,
            "first_results": first,
            "note": f"{single} sequential queries; batch throughput = 1 / median",
        }
        print(f"sqlite-vec n={n}: load {load:.1f} s, single median {statistics.median(times) * 1e3:.3f} ms over {single}", file=sys.stderr)
        db.close()
    return result


def peers(directory, threads, sizes):
    out = {"faiss": faiss_side(directory, threads, sizes)}
    if threads == 1:
        out["sqlite_vec"] = sqlite_vec_side(directory, sizes)
    json.dump(out, sys.stdout)
    print()


def agreement(a, b):
    """Mean overlap of two lists of top-10 id lists (1.0 = same sets)."""
    if not a or not b:
        return float("nan")
    return sum(len(set(x) & set(y)) / max(len(x), 1) for x, y in zip(a, b)) / min(len(a), len(b))


def report(directory):
    rows = []
    for threads in (1, 2):
        ours_path = os.path.join(directory, f"ours-{threads}.json")
        peers_path = os.path.join(directory, f"peers-{threads}.json")
        if not (os.path.exists(ours_path) and os.path.exists(peers_path)):
            continue
        ours = json.load(open(ours_path))
        peer = json.load(open(peers_path))
        rows.append((threads, ours, peer))
    if not rows:
        sys.exit("search.py report: no results found")

    print("## search\n")
    print("Synthetic unit vectors, d = 128, k = 10 (bench/search.py generate, fixed seed); exact inner product everywhere.")
    print("Ratios are peer time / our time: above 1 means we are faster.\n")
    sqlite = rows[0][2].get("sqlite_vec", {"sizes": {}})
    bandwidth = rows[0][1].get("bandwidth_bytes_per_s")
    def ms(x):
        return f"{x * 1e3:.3f}" if x < 0.01 else f"{x * 1e3:.2f}"

    for clock, key in (("CPU", "_cpu_s"), ("wall", "_s")):
        print(f"\n{clock} time ({'process CPU seconds: least disturbed by other load' if clock == 'CPU' else 'elapsed'}):\n")
        print("| threads | N | ours 1 query (ms) | FAISS flat (ms) | sqlite-vec (ms) | ×FAISS | ×sqlite-vec | physical limit (ms) "
              "| ours 1000 queries (s) | FAISS 1000 (s) | ×FAISS batch | top-10 agreement |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for threads, ours, peer in rows:
            for n, o in sorted(ours["sizes"].items(), key=lambda kv: int(kv[0])):
                f = peer["faiss"]["sizes"][n]
                s = sqlite["sizes"].get(n) if threads == 1 else None
                single_o, single_f = o["single_median" + key], f["single_median" + key]
                limit = int(n) * D * 4 / bandwidth * 1e3 if bandwidth else float("nan")
                s_ms = ms(s["single_median" + key]) if s else "—"
                s_ratio = f"{s['single_median' + key] / single_o:.1f}" if s else "—"
                agree = agreement(o["batch_first_results"], f["batch_first_results"])
                print(
                    f"| {threads} | {int(n):,} | {ms(single_o)} | {ms(single_f)} | {s_ms} | {single_f / single_o:.2f} | {s_ratio} | "
                    f"{limit:.3f} | {o['batch' + key]:.3f} | {f['batch' + key]:.3f} | {f['batch' + key] / o['batch' + key]:.2f} | {agree:.3f} |"
                )
    print()
    print("| threads | all-against-all top-10, N = 100 000 | ours wall (s) | FAISS search(all, k=11) wall (s) | ×FAISS wall | ours CPU (s) | FAISS CPU (s) | ×FAISS CPU | agreement |")
    print("|---|---|---|---|---|---|---|---|---|")
    for threads, ours, peer in rows:
        if "allpairs" in ours and "allpairs" in peer["faiss"]:
            o, f = ours["allpairs"], peer["faiss"]["allpairs"]
            print(f"| {threads} | {o['n']:,} × {o['n']:,} | {o['s']:.2f} | {f['s']:.2f} | {f['s'] / o['s']:.2f} | "
                  f"{o['cpu_s']:.2f} | {f['cpu_s']:.2f} | {f['cpu_s'] / o['cpu_s']:.2f} | "
                  f"{agreement(o['first_results'], f['first_results']):.3f} |")
    print()
    if bandwidth:
        print(f"Measured read bandwidth (sdot(x, x) with the run's threads, full-width vector loads, best CPU time of 5 passes over {max(int(n) for n in rows[0][1]['sizes']) * D * 4 / 2**20:.0f} MiB): "
              f"{bandwidth / 1e9:.1f} GB/s; the physical limit column is N·d·4 bytes / that bandwidth.")
    if sqlite["sizes"]:
        notes = ", ".join(f"N={int(n):,}: {v['single_queries']} queries (load {v['load_s']:.0f} s)" for n, v in sorted(sqlite["sizes"].items(), key=lambda kv: int(kv[0])))
        print(f"sqlite-vec (vec0, distance_metric=cosine, in-memory, via apsw): median of {notes}; it has no batch API.")
    heap = rows[0][1].get("heap", {})
    for k, h in sorted(heap.items(), key=lambda kv: int(kv[0])):
        print(f"Top-{k} of 1 000 000 scores: hand-written heap {h['handwritten_s'] * 1e3:.2f} ms, "
              f"swift-collections Heap {h['collections_heap_s'] * 1e3:.2f} ms ({h['collections_heap_s'] / h['handwritten_s']:.1f}×).")


def main():
    command, directory = sys.argv[1], sys.argv[2]
    if command == "generate":
        generate(directory, [int(n) for n in sys.argv[3:]])
    elif command == "peers":
        peers(directory, int(sys.argv[3]), [int(n) for n in sys.argv[4:]])
    elif command == "report":
        report(directory)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
