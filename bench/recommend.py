"""bench/run recommend, the peer's side: every clip's K nearest by Musly's timbre method — what `musly -k K -p`
computes for a collection — from clips already analysed (models from the quality benchmark's cache, else
analysed now, untimed): set_style and add_tracks, then compute_similarity(seed, all) and the K smallest
distances per seed, one thread, the best of three. Prints one JSON object.

    python bench/recommend.py K CLIPS_CSV
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_peers  # noqa: E402  (the clip list and Musly's decoding, shared with bench/run quality)


def main():
    import pymusly

    k, csv_path = int(sys.argv[1]), Path(sys.argv[2])
    clips, _ = quality_peers.read_clips(csv_path.parent)
    jukebox = pymusly.MuslyJukebox(method="timbre")
    cache = Path.home() / ".cache/retrieve-peers" / f"musly-{pymusly.get_musly_version()}-timbre-ffmpeg-wholeclip"
    cache.mkdir(parents=True, exist_ok=True)
    tracks = []
    for clip in clips:
        cached = cache / f"{clip.sha256}.musly"
        if not cached.is_file():
            track = jukebox.track_from_audiodata(quality_peers.musly_decode(clip.path))
            cached.write_bytes(jukebox.serialize_track(track))
        blob = cached.read_bytes()
        if np.all(np.isfinite(np.frombuffer(blob, dtype=">f4"))):  # a near-silent clip has no model
            tracks.append(jukebox.deserialize_track(blob))
    runs = []
    for _ in range(3):  # the best of three, as ours
        jukebox = pymusly.MuslyJukebox(method="timbre")
        started = time.perf_counter()
        jukebox.set_style(tracks[: quality_peers.MUSLY_MAX_STYLE_TRACKS])
        ids = jukebox.add_tracks(tracks)
        collection = list(zip(ids, tracks))
        for q in range(len(collection)):
            distances = np.asarray(jukebox.compute_similarity(collection[q], collection))
            distances[q] = np.inf
            best = np.argpartition(distances, k)[:k]
            _ = best[np.argsort(distances[best], kind="stable")]  # best first, as an export writes them
        runs.append(time.perf_counter() - started)
    print(json.dumps({"tracks": len(tracks), "k": k, "seconds": min(runs)}))


if __name__ == "__main__":
    main()
