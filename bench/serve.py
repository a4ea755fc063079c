"""`bench/run serve`, the driver and the report: `retrieve serve` over HTTP against FAISS in one run.

    serve.py generate DIR N...        base-N.npy: N x 128 unit float32 rows (the seeds of bench/search.py)
    serve.py measure OUT.json N DB VECTORS   one size: start, latency vs FAISS, wrk, memory, reload; JSON out
    serve.py report OUT.json...       the markdown tables with ratios

`measure` starts `$RETRIEVE serve --db DB --port 0` under `taskset -c $SERVER_CPU` with
OPENBLAS_NUM_THREADS=1 (one core, one BLAS thread), then, pinned itself to $CLIENT_CPU:
- startup: process start to the first answered `/api/similar` (and to "listening");
- latency: sequential `GET /api/similar?id=…&k=10` with seeded random ids over one keep-alive connection
  (Python's http.client; the JSON is parsed only after the clock stops), then FAISS `IndexFlatIP` in this
  process on the same vectors and the same queries (k = 11, the query itself dropped, as the server drops the
  seed), with one OpenMP thread and this process moved onto the server's core for it; $ROUNDS rounds, each
  HTTP then FAISS, so each ratio compares neighbours in time;
- throughput: `wrk` with 16 keep-alive connections (2 threads, on $CLIENT_CPU), random ids from a Lua script;
- memory: VmRSS/VmHWM after load; then a reload triggered by `retrieve index` of a few generated WAVs into
  the same database (a copy made by serve.sh), with VmHWM reset just before (clear_refs 5), so the peak of the
  reload itself is read.
"""
import http.client
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from search import D, unit_rows  # noqa: E402  (one generator for both benchmarks)

SERVER_CPU = int(os.environ.get("SERVER_CPU", "1"))
CLIENT_CPU = int(os.environ.get("CLIENT_CPU", "0"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def generate(directory, sizes):
    for n in sizes:
        np.save(os.path.join(directory, f"base-{n}.npy"), unit_rows(np.random.default_rng(n), n))


def load_average():
    return open("/proc/loadavg").read().split()[:3]


def proc_status(pid):
    """VmRSS and VmHWM of `pid`, bytes."""
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def proc_cpu_seconds(pid):
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """`retrieve serve` on one core; stdout gives the port, stderr (the request log) goes to a file."""

    def __init__(self, retrieve, db, log_path):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.log_path = log_path
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), retrieve, "serve", "--db", db, "--port", "0"],
            stdout=subprocess.PIPE, stderr=open(log_path, "w"), env=env, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            sys.exit(f"serve.py: the server did not start ({line!r}); see {log_path}")
        self.listening_s = time.perf_counter() - self.started
        self.port = int(match.group(1))
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port)

    @property
    def pid(self):
        return self.process.pid

    def get(self, path):
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"serve.py: GET {path} answered {response.status}: {body[:300]!r}")
        return body

    def log_value(self, message, key):
        """The last value of `key=` on a log line containing `message`."""
        values = [m.group(1) for line in open(self.log_path) if message in line
                  for m in [re.search(rf"{key}=(\S+)", line)] if m]
        return float(values[-1]) if values else None

    def stop(self):
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=60)


def percentiles(seconds):
    s = sorted(seconds)
    return {"p50": s[len(s) // 2], "p99": s[min(len(s) - 1, int(len(s) * 0.99))], "mean": statistics.fmean(s),
            "max": s[-1], "count": len(s)}


def http_round(server, ids):
    times, bodies = [], []
    cpu0 = proc_cpu_seconds(server.pid)
    for i in ids:
        t = time.perf_counter()
        body = server.get(f"/api/similar?id={i}&k=10")
        times.append(time.perf_counter() - t)
        bodies.append(body)
    result = percentiles(times)
    result["server_cpu_per_query"] = (proc_cpu_seconds(server.pid) - cpu0) / len(ids)
    result["top10"] = [[r["track"]["id"] - 1 for r in json.loads(b)["results"]] for b in bodies]
    return result


def faiss_round(index, base, ids):
    os.sched_setaffinity(0, {SERVER_CPU})
    times = []
    cpu0 = time.process_time()
    top = []
    for i in ids:
        q = base[i - 1 : i]
        t = time.perf_counter()
        _, found = index.search(q, 11)
        times.append(time.perf_counter() - t)
        top.append([int(x) for x in found[0] if x != i - 1][:10])
    cpu = time.process_time() - cpu0
    os.sched_setaffinity(0, {CLIENT_CPU})
    result = percentiles(times)
    result["cpu_per_query"] = cpu / len(ids)
    result["top10"] = top
    return result


def agreement(a, b):
    return statistics.fmean(len(set(x) & set(y)) / 10 for x, y in zip(a, b))


def latency(server, base, n):
    import faiss

    faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatIP(D)
    index.add(base)
    count = int(os.environ.get("QUERIES", 1000 if n <= 100_000 else 300))
    rng = np.random.default_rng(7)
    for i in rng.integers(1, n + 1, size=20):  # warm-up both sides
        server.get(f"/api/similar?id={i}&k=10")
        index.search(base[i - 1 : i], 11)
    rounds = []
    for r in range(ROUNDS):
        ids = [int(i) for i in rng.integers(1, n + 1, size=count)]
        load = load_average()
        h = http_round(server, ids)
        f = faiss_round(index, base, ids)
        agree = agreement(h.pop("top10"), f.pop("top10"))
        rounds.append({"load": load, "http": h, "faiss": f, "agreement": agree})
        print(f"  round {r + 1}: http p50 {h['p50'] * 1e3:.2f} ms p99 {h['p99'] * 1e3:.2f}, faiss p50 "
              f"{f['p50'] * 1e3:.2f} ms; ratio {h['p50'] / f['p50']:.2f}, agreement {agree:.3f}, load {load}",
              file=sys.stderr)
    return rounds


def search_time(server):
    """Median wall time of `/api/tracks?q=…` (a scan of every track's path, artist, title and album)."""
    times = []
    for phrase in ("track%200000042", "artist%2000042", "album%20000421", "nothing%20like%20this", "synthetic") * 2:
        t = time.perf_counter()
        server.get(f"/api/tracks?q={phrase}&limit=10")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def throughput(port, n, seconds):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(
        "local counter = 0\n"
        "function setup(thread) counter = counter + 1; thread:set('seed', counter) end\n"
        "function init(args) math.randomseed(1000 + seed) end\n"
        f"function request() return wrk.format('GET', '/api/similar?id=' .. math.random(1, {n}) .. '&k=10') end\n")
    script.close()
    runs = []
    for _ in range(ROUNDS):
        load = load_average()
        out = subprocess.run(
            ["taskset", "-c", str(CLIENT_CPU), "wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "30s", "--latency",
             "-s", script.name, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

        def ms(label):
            value, unit = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)\b", out).groups()
            return float(value) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]

        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        runs.append({"load": load, "rps": rps, "p50_ms": ms("50%"), "p99_ms": ms("99%"),
                     "non2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else None})
        print(f"  wrk: {rps:.1f} req/s, p50 {ms('50%'):.1f} ms, p99 {ms('99%'):.1f} ms, load {load}", file=sys.stderr)
    os.unlink(script.name)
    return runs


def write_wavs(directory, count=3, seconds=8, rate=22050):
    rng = np.random.default_rng(int(time.time()))
    for k in range(count):
        t = np.arange(seconds * rate) / rate
        tone = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(110, 880, size=3))
        signal = 0.2 * tone / 3 + 0.05 * rng.standard_normal(t.size)
        with wave.open(os.path.join(directory, f"reload-{k}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())


def reload(server, retrieve, db):
    """Peak and settled RSS around a reload that `retrieve index` of three new WAVs triggers."""
    health = json.loads(server.get("/api/health"))
    with open(f"/proc/{server.pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, so the peak read below is the reload's own
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(proc_status(server.pid)["VmRSS"])
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with tempfile.TemporaryDirectory() as wavs:
        write_wavs(wavs)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        subprocess.run(["taskset", "-c", str(CLIENT_CPU), retrieve, "index", wavs, "--db", db, "--json"],
                       check=True, capture_output=True, env=env)
    committed = time.perf_counter()
    # Opening the index for writing is itself a commit (the WAL set-up), so a first reload may come before the
    # tracks do: wait until the new tracks are answered, however many reloads that takes.
    while json.loads(server.get("/api/health"))["tracks"] < health["tracks"] + 3:
        if time.perf_counter() - committed > 600:
            sys.exit("serve.py: the new tracks were not served within 600 s of the commit")
        time.sleep(0.05)
    seen = time.perf_counter() - committed
    time.sleep(1)
    stop.set()
    sampler.join()
    status = proc_status(server.pid)
    time.sleep(2)
    after = json.loads(server.get("/api/health"))
    return {"tracks_before": health["tracks"], "tracks_after": after["tracks"], "seen_after_s": seen,
            "reloads": after["generation"] - health["generation"],
            "server_reload_ms": server.log_value("index reloaded", "duration(?:_ms|Ms)"), "peak_rss": status["VmHWM"],
            "sampled_peak_rss": max(samples), "rss_after": proc_status(server.pid)["VmRSS"]}


def metadata_bytes(db):
    """The bytes of the track rows: their strings' UTF-8 bytes, and 8 per number (id, size, mtime, duration,
    sample rate, channels; added/updated times are not loaded)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    strings, count = con.execute(
        "SELECT sum(" + " + ".join(f"coalesce(length(CAST({c} AS BLOB)), 0)" for c in
                                   ("path", "content_hash", "format", "title", "artist", "album", "genre", "label"))
        + "), count(*) FROM tracks").fetchone()
    con.close()
    return {"strings": strings, "numbers": count * 6 * 8, "tracks": count}


def measure(out, n, db, vectors):
    os.sched_setaffinity(0, {CLIENT_CPU})
    retrieve = os.environ["RETRIEVE"]
    base = np.load(vectors)[:n]
    result = {"n": n, "dimensions": D, "load_start": load_average(), "metadata": metadata_bytes(db)}
    log = tempfile.NamedTemporaryFile(prefix="serve-log-", suffix=".txt", delete=False).name
    server = Server(retrieve, db, log)
    try:
        server.get("/api/similar?id=1&k=10")
        result["startup"] = {"listening_s": server.listening_s, "first_answer_s": time.perf_counter() - server.started,
                             "server_load_ms": server.log_value("index loaded", "duration(?:_ms|Ms)")}
        time.sleep(1)
        result["after_load"] = proc_status(server.pid)
        print(f"n={n}: first answer after {result['startup']['first_answer_s']:.2f} s, RSS "
              f"{result['after_load']['VmRSS'] / 2**20:.0f} MiB", file=sys.stderr)
        result["latency"] = latency(server, base, n)
        result["search_s"] = search_time(server)
        result["wrk"] = throughput(server.port, n, int(os.environ.get("WRK_SECONDS", 10 if n <= 100_000 else 20)))
        result["reload"] = reload(server, retrieve, db)
        print(f"  reload: peak {result['reload']['peak_rss'] / 2**20:.0f} MiB, after "
              f"{result['reload']['rss_after'] / 2**20:.0f} MiB", file=sys.stderr)
    finally:
        server.stop()
        os.unlink(log)
    result["load_end"] = load_average()
    json.dump(result, open(out, "w"))


def cpu_description():
    info = open("/proc/cpuinfo").read()

    def field(name):
        match = re.search(rf"^{name}\s*:\s*(.*)$", info, re.M)
        return match.group(1).strip() if match else "?"

    return f"{field('model name')}, family {field('cpu family')} model {field('model')}, {os.cpu_count()} CPUs"


def report(paths):
    runs = [json.load(open(p)) for p in paths]
    mib = 2**20
    print("## serve\n")
    print(f"CPU: {cpu_description()}. Server: `taskset -c {SERVER_CPU}`, OPENBLAS_NUM_THREADS=1; client and wrk on "
          f"CPU {CLIENT_CPU}; FAISS IndexFlatIP in the client process, omp 1 thread, moved onto CPU {SERVER_CPU}.\n")
    print("Sequential keep-alive client (Python http.client), `GET /api/similar?id=RANDOM&k=10`; ratio = HTTP p50 / "
          "FAISS p50 (below 1.5 meets the goal); CPU = server process CPU per query / FAISS CPU per query.\n")
    print("| N | round | HTTP p50 (ms) | HTTP p99 (ms) | p99/p50 | FAISS p50 (ms) | FAISS p99 (ms) | **p50 ratio** "
          "| server CPU/query (ms) | FAISS CPU/query (ms) | CPU ratio | top-10 agreement | load (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        for i, r in enumerate(run["latency"]):
            h, f = r["http"], r["faiss"]
            print(f"| {run['n']:,} | {i + 1} | {h['p50'] * 1e3:.2f} | {h['p99'] * 1e3:.2f} | {h['p99'] / h['p50']:.2f} | "
                  f"{f['p50'] * 1e3:.2f} | {f['p99'] * 1e3:.2f} | **{h['p50'] / f['p50']:.2f}** | "
                  f"{h['server_cpu_per_query'] * 1e3:.2f} | {f['cpu_per_query'] * 1e3:.2f} | "
                  f"{h['server_cpu_per_query'] / f['cpu_per_query']:.2f} | {r['agreement']:.3f} | {' '.join(r['load'])} |")
    print("\nThroughput, `wrk -t2 -c16 --latency` (16 keep-alive connections, random ids from a Lua script), server "
          "on one core:\n")
    print("| N | req/s | p50 (ms) | p99 (ms) | non-2xx | load |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        for w in run["wrk"]:
            print(f"| {run['n']:,} | {w['rps']:.1f} | {w['p50_ms']:.1f} | {w['p99_ms']:.1f} | {w['non2xx']} | "
                  f"{' '.join(w['load'])} |")
    print("\nMemory (MiB; metadata = the UTF-8 bytes of the track rows' strings, + 8 bytes per loaded number in "
          "brackets); goal: RSS ≤ 1.3 × (vectors + metadata):\n")
    print("| N | vectors | metadata | goal | RSS after load | peak while loading | peak during reload | "
          "RSS after reload | RSS / (vectors + metadata) | startup: listening / first answer (s) | reload (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        vectors, m = run["n"] * run["dimensions"] * 4, run["metadata"]
        raw = vectors + m["strings"]
        rl, st = run["reload"], run["startup"]
        print(f"| {run['n']:,} | {vectors / mib:.0f} | {m['strings'] / mib:.0f} (+{m['numbers'] / mib:.0f}) | "
              f"{1.3 * raw / mib:.0f} | {run['after_load']['VmRSS'] / mib:.0f} | {run['after_load']['VmHWM'] / mib:.0f} | "
              f"{rl['peak_rss'] / mib:.0f} | {rl['rss_after'] / mib:.0f} | "
              f"{run['after_load']['VmRSS'] / raw:.2f} (reload peak {rl['peak_rss'] / raw:.2f}) | "
              f"{st['listening_s']:.1f} / {st['first_answer_s']:.1f} | {rl['server_reload_ms']} |")
    for run in runs:
        print(f"\nN = {run['n']:,}: `/api/tracks?q=…` (every track's path, artist, title, album) median "
              f"{run['search_s'] * 1e3:.0f} ms; load average {' '.join(run['load_start'])} at the start, "
              f"{' '.join(run['load_end'])} at the end; the reload added {run['reload']['tracks_after'] - run['reload']['tracks_before']} "
              f"tracks ({run['reload'].get('reloads', 1)} reloads) and they were answered from "
              f"{run['reload']['seen_after_s']:.1f} s after `retrieve index` returned.")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "generate":
        generate(sys.argv[2], [int(n) for n in sys.argv[3:]])
    elif command == "measure":
        measure(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif command == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)
