#!/usr/bin/env python3
"""PyTorch side of `bench/run lstm`: the same encoder shape as bench/swift/LSTMBench.swift.

nn.LSTM(128, 256) (1 layer, unidirectional, time-major) -> mean over time -> Linear(256, 128) -> L2 norm ->
classifier Linear(128, 10) * 16; batch 32, 128 steps. With LSTM_CONV=C,F,T,P a convolutional front end comes first
(Conv2d(1, C, (F, T), padding='same') over mels x frames, ReLU, max-pooling P over mels, channel-major per frame;
the same as scripts/fixtures/lstm_parity.py's FrontEnd) and the LSTM's input is C * 128 / P. Inference under torch.inference_mode; a training step
is forward + cross-entropy + backward + AdamW. One JSON object per line, for each thread count.
"""
import json
import sys
import time

import torch
from torch import nn

import os

# The shape; bench/lstm.sh sets LSTM_HIDDEN, LSTM_STEPS and LSTM_CLASSES for the shipped model's shape.
T, B, IN, H, E, C = (int(os.environ.get("LSTM_STEPS", 128)), 32, 128, int(os.environ.get("LSTM_HIDDEN", 256)), 128,
                     int(os.environ.get("LSTM_CLASSES", 10)))
CONV = [int(v) for v in os.environ["LSTM_CONV"].split(",")] if os.environ.get("LSTM_CONV") else None


class FrontEnd(nn.Module):
    def __init__(self, channels, bands, frames, pool):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, (bands, frames), padding="same")
        self.pool = pool

    def forward(self, x):  # T, B, M -> T, B, C * M / P
        t, b, _ = x.shape
        y = torch.relu(self.conv(x.permute(1, 2, 0).unsqueeze(1)))
        y = nn.functional.max_pool2d(y, (self.pool, 1))
        return y.permute(3, 0, 1, 2).reshape(t, b, -1)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend = FrontEnd(*CONV) if CONV else None
        self.lstm = nn.LSTM(CONV[0] * (IN // CONV[3]) if CONV else IN, H)
        self.projection = nn.Linear(H, E)
        self.classifier = nn.Linear(E, C)

    def forward(self, x):  # T, B, IN
        if self.frontend is not None:
            x = self.frontend(x)
        y, _ = self.lstm(x)
        z = self.projection(y.mean(0))
        e = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return e, 16 * self.classifier(e)


def time_it(fn, seconds):
    fn()
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / runs


def blas_cores():
    """The BLAS libraries loaded in this process (numpy's OpenBLAS, PyTorch's MKL if any) as threadpoolctl
    names them, with OpenBLAS's core type ("architecture"); nothing when threadpoolctl is not installed."""
    try:
        import numpy  # noqa: F401 (loads numpy's OpenBLAS so threadpoolctl sees it)
        from threadpoolctl import threadpool_info
    except ImportError:
        return
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            print(json.dumps({"what": "blas_core", "side": "python", "library": lib.get("internal_api"),
                              "version": lib.get("version"), "core": lib.get("architecture"),
                              "file": lib.get("filepath", "").rsplit("/", 1)[-1]}))


def main():
    blas_cores()
    threads = [int(t) for t in (sys.argv[1] if len(sys.argv) > 1 else "1,2").split(",")]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    torch.manual_seed(0)
    model = Encoder()
    x = torch.rand(T, B, IN) * 2 - 1
    labels = torch.arange(B) % C
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    lstm_in = CONV[0] * (IN // CONV[3]) if CONV else IN
    flops = 2 * T * 4 * H * (lstm_in + H) + (2 * T * IN * CONV[0] * CONV[1] * CONV[2] if CONV else 0)

    def infer():
        with torch.inference_mode():
            model(x)

    def train():
        opt.zero_grad(set_to_none=True)
        _, logits = model(x)
        nn.functional.cross_entropy(logits, labels).backward()
        opt.step()

    for t in threads:
        torch.set_num_threads(t)
        ti = time_it(infer, seconds)
        tt = time_it(train, seconds)
        # nn.LSTM's default CPU path is oneDNN's fused LSTM; with it disabled PyTorch runs its own
        # recurrence over MKL GEMMs, the same structure as ours. Reported as a second reference.
        torch.backends.mkldnn.enabled = False
        tn = time_it(infer, seconds)
        torch.backends.mkldnn.enabled = True
        print(json.dumps({"what": "inference", "side": "pytorch", "threads": t, "seq_per_s": B / ti, "gflops": flops * B / ti / 1e9}))
        print(json.dumps({"what": "inference-native", "side": "pytorch", "threads": t, "seq_per_s": B / tn, "gflops": flops * B / tn / 1e9}))
        print(json.dumps({"what": "training", "side": "pytorch", "threads": t, "seq_per_s": B / tt, "gflops": 3 * flops * B / tt / 1e9}))
        sys.stdout.flush()


def report(lines):
    """Prints the side-by-side table from both sides' JSON lines."""
    rows = [json.loads(l) for l in lines if l.strip()]
    for r in rows:
        if r["what"] == "blas_core" and r["side"] == "swift":
            print(f"OpenBLAS core (ours): {r['summary']}")
        elif r["what"] == "blas_core":
            core = f" core {r['core']}" if r.get("core") else ""
            print(f"peer BLAS (threadpoolctl): {r['library']} {r['version']}{core} ({r['file']})")
    peak = next(r["gflops"] for r in rows if r["what"] == "sgemm_peak_1thread")
    print(f"single-thread sgemm peak (OpenBLAS, 1024^3): {peak:.1f} GFLOP/s")
    kernel = next((r["kernel"] for r in rows if r.get("side") == "swift" and "kernel" in r), None)
    if kernel:
        print(f"swift inference kernel: {kernel}")
    print(f"{'task':<10} {'threads':>7} {'swift seq/s':>12} {'torch seq/s':>12} {'ratio':>6} "
          f"{'swift GF/s':>11} {'torch GF/s':>11} {'swift/peak':>10}")
    for what in ("inference", "training"):
        for r in [r for r in rows if r.get("side") == "swift" and r["what"] == what]:
            p = next(q for q in rows if q.get("side") == "pytorch" and q["what"] == what and q["threads"] == r["threads"])
            print(f"{what:<10} {r['threads']:>7} {r['seq_per_s']:>12.1f} {p['seq_per_s']:>12.1f} "
                  f"{r['seq_per_s'] / p['seq_per_s']:>5.2f}x {r['gflops']:>11.1f} {p['gflops']:>11.1f} "
                  f"{100 * r['gflops'] / peak / r['threads']:>9.0f}%")
            if what == "inference":
                n = next(q for q in rows if q.get("side") == "pytorch" and q["what"] == "inference-native"
                         and q["threads"] == r["threads"])
                print(f"{'  vs torch without oneDNN':<31} {n['seq_per_s']:>12.1f} {r['seq_per_s'] / n['seq_per_s']:>5.2f}x "
                      f"{'':>11} {n['gflops']:>11.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--report":
        report(sys.stdin)
    else:
        main()
