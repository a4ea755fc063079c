"""Seed corpus for the FLAC differential fuzzer: small files (≤ 20 kB) from the `flac` encoder across sample
sizes, channel counts, block sizes and settings, so that mutations start from every subframe type.
Standard library only (CI runs it on a clean machine):
    python3 scripts/fuzz/flac_seeds.py DIR"""
import math
import random
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = random.Random(1)


def pcm(value: float, bits: int) -> bytes:
    """One sample in WAV's layout: unsigned 8-bit, else little-endian signed."""
    full = (1 << (bits - 1)) - 1
    v = max(-full - 1, min(full, round(value * full)))
    return bytes([v + 128]) if bits == 8 else v.to_bytes(bits // 8, "little", signed=True)


with tempfile.TemporaryDirectory() as tmp:
    n = 0
    for bits in [8, 16, 24]:
        for channels in [1, 2, 3]:
            for kind in ["tone", "noise", "silence", "mixed"]:
                frames = 1500
                data = bytearray()
                for t in range(frames):
                    for c in range(channels):
                        tone = 0.5 * math.sin(t * 0.05) * (1 - 0.5 * c / max(1, channels - 1))
                        noise = rng.uniform(-1, 1)
                        x = {"tone": tone, "noise": noise, "silence": 0.0, "mixed": tone + 0.05 * noise}[kind]
                        data += pcm(x, bits)
                source = Path(tmp) / "x.wav"
                with wave.open(str(source), "wb") as w:
                    w.setnchannels(channels)
                    w.setsampwidth(bits // 8)
                    w.setframerate(44100)
                    w.writeframes(bytes(data))
                for options in [["-0"], ["-5", "--blocksize=256"], ["-8", "--lax", "-l", "32", "--blocksize=192"],
                                ["-8", "-e", "--blocksize=576"], ["--lax", "--blocksize=16", "-l", "12"]]:
                    target = out / f"seed{n:03d}.flac"
                    subprocess.run(["flac", "-s", "-f", "--no-padding", "--no-seektable", "--channel-map=none",
                                    *options, "-o", str(target), str(source)], check=True, stderr=subprocess.DEVNULL)
                    n += 1
print(f"{n} seeds in {out}")
