"""bench/run timbre, the peer's side: Musly's timbre similarity of one seed to COUNT tracks (pymusly's
compute_similarity: Jensen-Shannon divergence and mutual proximity against the style set), cycled from the given
audio files, one thread. Prints one JSON object: the median over five seeds of seconds per candidate.

    python bench/timbre.py COUNT FILE...
"""
import json
import sys
import time

import pymusly


def main():
    count, files = int(sys.argv[1]), sys.argv[2:]
    jukebox = pymusly.MuslyJukebox(method="timbre")
    tracks = [jukebox.track_from_audiofile(path, 0, 0) for path in files]
    collection_tracks = [tracks[i % len(tracks)] for i in range(count)]
    jukebox.set_style(tracks)
    ids = jukebox.add_tracks(collection_tracks)
    collection = list(zip(ids, collection_tracks))
    times = []
    for q in range(5):
        started = time.perf_counter()
        jukebox.compute_similarity(collection[q], collection)
        times.append((time.perf_counter() - started) / count)
    print(json.dumps({"files": len(tracks), "candidates": count, "per_candidate_s": sorted(times)[2]}))


if __name__ == "__main__":
    main()
