"""Seed corpus for the FLAC differential fuzzer: small files (≤ 20 kB) from the `flac` encoder across sample
sizes, channel counts, block sizes and settings, so that mutations start from every subframe type.
    python scripts/fuzz/flac_seeds.py DIR"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(1)
with tempfile.TemporaryDirectory() as tmp:
    n = 0
    for bits, subtype in [(8, "PCM_U8"), (16, "PCM_16"), (24, "PCM_24")]:
        for channels in [1, 2, 3]:
            for kind in ["tone", "noise", "silence", "mixed"]:
                frames = 1500
                t = np.arange(frames)
                tone = 0.5 * np.sin(t * 0.05)[:, None] * np.linspace(1, 0.5, channels)[None, :]
                noise = rng.uniform(-1, 1, (frames, channels))
                x = {"tone": tone, "noise": noise, "silence": 0 * tone,
                     "mixed": tone + 0.05 * noise}[kind]
                wav = Path(tmp) / "x.wav"
                sf.write(wav, x.astype(np.float32), 44100, subtype=subtype)
                for options in [["-0"], ["-5", "--blocksize=256"], ["-8", "--lax", "-l", "32", "--blocksize=192"],
                                ["-8", "-e", "--blocksize=576"], ["--lax", "--blocksize=16", "-l", "12"]]:
                    target = out / f"seed{n:03d}.flac"
                    subprocess.run(["flac", "-s", "-f", "--no-padding", "--no-seektable", "--channel-map=none", *options, "-o", str(target),
                                    str(wav)], check=True)
                    n += 1
print(f"{n} seeds in {out}")
