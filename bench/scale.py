"""`bench/run scale`, the peers' side and the report.

    scale.py vec-build DIR N        write DIR/vec-N.db: a sqlite-vec vec0 table of base-N.npy (once; kept)
    scale.py vec-query DIR N ROW    one fresh process: open vec-N.db, top-10 of row ROW's vector, print JSON
    scale.py faiss-all DIR N        FAISS IndexFlatIP, batched exact search of every vector (k = 11), JSON
    scale.py report DIR             print the markdown tables from DIR/results.jsonl

The cold-query comparison is process against process: `retrieve similar ROW --k 10 --db lib-N.sqlite` (a fresh
process, its index file in the page cache) against a fresh Python process that opens the sqlite-vec database
file and asks vec0 for the top 10 of the same vector (its file in the page cache too). Both wall times include
the process start; the in-process query time of sqlite-vec is printed beside it.
"""
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

D = 128


def vec_build(directory, n):
    import apsw
    import sqlite_vec

    path = os.path.join(directory, f"vec-{n}.db")
    if os.path.exists(path):
        return
    base = np.load(os.path.join(directory, f"base-{n}.npy"))
    base /= np.linalg.norm(base, axis=1, keepdims=True)  # make-index normalises too: the same vectors
    db = apsw.Connection(path + ".part")
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{D}] distance_metric=cosine)")
    with db:
        # rowid = track id: make-index gives vector i the track id i + 1.
        db.executemany("INSERT INTO v(rowid, embedding) VALUES (?, ?)", ((i + 1, base[i].tobytes()) for i in range(n)))
    db.close()
    os.rename(path + ".part", path)


def vec_query(directory, n, track_id):
    started = time.perf_counter()
    import apsw
    import sqlite_vec

    db = apsw.Connection(os.path.join(directory, f"vec-{n}.db"), flags=apsw.SQLITE_OPEN_READONLY)
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    q0 = time.perf_counter()
    (vector,) = db.execute("SELECT embedding FROM v WHERE rowid = ?", (track_id,)).fetchone()
    rows = list(db.execute("SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = 11", (vector,)))
    query = time.perf_counter() - q0
    ids = [r[0] for r in rows if r[0] != track_id][:10]
    print(json.dumps({"query_s": query, "in_process_s": time.perf_counter() - started, "ids": ids}))


def faiss_all(directory, n):
    import faiss

    base = np.load(os.path.join(directory, f"base-{n}.npy"))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    c, w = time.process_time(), time.perf_counter()
    index = faiss.IndexFlatIP(D)
    index.add(base)
    first = None
    for start in range(0, n, 16384):  # batched, so its result arrays stay bounded as ours do
        _, ids = index.search(base[start : start + 16384], 11)
        if first is None:
            first = ids[:20, 1:].tolist()
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": wall, "cpu_s": cpu, "rss_mb": rss, "threads": faiss.omp_get_max_threads(), "first": first}))


def report(directory):
    results = [json.loads(line) for line in open(os.path.join(directory, "results.jsonl"))]
    cold = [r for r in results if r["kind"] == "cold"]
    exports = [r for r in results if r["kind"] == "export"]
    print("| N | ours: cold `retrieve similar --k 10`, wall (median of runs) | ours peak RSS | sqlite-vec vec0 top-10, "
          "fresh process, wall | of which the query | ×sqlite-vec (wall) | same top 10 |")
    print("|---|---|---|---|---|---|---|")
    for r in cold:
        print(f"| {r['n']:,} | {r['ours_s']:.3f} s ({', '.join(f'{x:.2f}' for x in r['ours_runs'])}) | {r['ours_rss_mb']:.0f} MB "
              f"| {r['vec_s']:.3f} s | {r['vec_query_s']:.3f} s | {r['vec_s'] / r['ours_s']:.1f} | {r['agree']:.2f} |")
    print()
    print("| N | ours: `retrieve export --k 10` (CSV), wall | CPU | peak RSS | FAISS flat batched search(k = 11), wall "
          "| CPU | peak RSS | ×FAISS (wall) | ×FAISS (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in exports:
        f = r.get("faiss")
        peer = (f"{f['s']:.1f} s | {f['cpu_s']:.1f} s | {f['rss_mb']:.0f} MB | {f['s'] / r['s']:.2f} | "
                f"{f['cpu_s'] / r['cpu_s']:.2f}") if f else "— | — | — | — | —"
        print(f"| {r['n']:,} | {r['s']:.1f} s | {r['cpu_s']:.1f} s | {r['rss_mb']:.0f} MB | {peer} |")


def main():
    command, directory = sys.argv[1], sys.argv[2]
    if command == "vec-build":
        vec_build(directory, int(sys.argv[3]))
    elif command == "vec-query":
        vec_query(directory, int(sys.argv[3]), int(sys.argv[4]))
    elif command == "faiss-all":
        faiss_all(directory, int(sys.argv[3]))
    elif command == "report":
        report(directory)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
