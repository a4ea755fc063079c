#!/usr/bin/env python3
"""librosa's side of `bench/run features`: load (mono, 22 050 Hz, soxr_hq) + log-mel + MFCC on one thread.

Usage: features.py DIR [EXT]. Prints: librosa AUDIO_SECONDS WALL DECODE_WALL FRAMES CPU DECODE_CPU (the same fields
as retrieve-bench features run; CPU is process time, which other jobs on a shared machine do not inflate).
Thread counts are pinned by bench/features.sh before numpy is imported.
"""
import os
import sys
import time

import librosa
import numpy as np


def main(directory, extensions=(".wav", ".flac")):
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(tuple(extensions)))
    # Warm-up: imports, lazy module loading, caches — as the Swift side warms up FFTW.
    y, sr = librosa.load(files[0], sr=22050, res_type="soxr_hq", duration=5)
    librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr)))
    audio = 0.0
    frames = 0
    decode = 0.0
    decode_cpu = 0.0
    start = time.perf_counter()
    cpu_start = time.process_time()
    for path in files:
        t0 = time.perf_counter()
        c0 = time.process_time()
        y, sr = librosa.load(path, sr=22050, res_type="soxr_hq")
        decode += time.perf_counter() - t0
        decode_cpu += time.process_time() - c0
        log_mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr))
        mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=20)
        audio += len(y) / sr
        frames += mfcc.shape[1]
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(f"librosa {audio} {wall} {decode} {frames} {cpu} {decode_cpu}")


if __name__ == "__main__":
    main(sys.argv[1], *(["." + sys.argv[2]] if len(sys.argv) > 2 else []))
