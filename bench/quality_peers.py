"""Peer descriptors for the leave-labels-out quality benchmark: Musly and MusiCNN on the same clip set.

    .venv/bin/python bench/quality_peers.py CLIPS [--systems musly,musicnn] [--cache DIR] [--threads N]

CLIPS/clips.csv (header `index,path,label,group`, `path` relative to CLIPS, `index` = 0-based row order) names
22 050 Hz mono WAV clips of about 30 s. This writes, rows and columns in clips.csv order:

    CLIPS/peers/musly.npy      float32 N x N similarity: minus Musly's mutual-proximity distance (timbre method);
                               a clip Musly cannot model gets a NaN row and column, the others are computed
                               without it
    CLIPS/peers/musicnn.npy    float32 N x 753: MusiCNN (MSD_musicnn) "mean_pool" layer, averaged over the clip's
                               non-overlapping 3-s patches; a clip that fails gets a NaN row
    CLIPS/peers/manifest.json  per system: tool and versions, settings, failed clips and why, seconds, cache use,
                               and the sha256 of the clips.csv the result belongs to

Per-clip results are cached by the sha256 of the clip's bytes under DIR/<system>-<version>-<settings>/
(default ~/.cache/retrieve-peers), so a re-run or a changed clip set only analyses new clips. The Musly
matrix itself is always recomputed from the cached per-clip models: mutual proximity depends on the whole set.
Needs the peers from scripts/reference-env; they are never runtime dependencies of retrieve.
"""
import argparse
import contextlib
import csv
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SYSTEMS = ("musly", "musicnn")
PROGRESS_EVERY = 50
MUSLY_MAX_STYLE_TRACKS = 1000  # Musly's own CLI: all tracks up to 1000, else a random sample of 1000
MUSLY_STYLE_SEED = 0
MUSICNN_MODEL = "MSD_musicnn"
MUSICNN_FEATURE = "mean_pool"
MUSICNN_DIM = 753
MUSICNN_PATCH_FRAMES = 187  # extractor()'s input_length 3 s: librosa.time_to_frames(3, 16000, hop 256, n_fft 512) + 1


class ClipSetError(Exception):
    """A problem with the clip set that stops the run before any work (one sentence, naming the file)."""


@dataclass
class Clip:
    index: int
    rel: str  # path as written in clips.csv
    path: Path
    label: str
    group: str
    sha256: str = ""


def log(message):
    print(f"quality_peers: {message}", file=sys.stderr, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_clips(root):
    """clips.csv → [Clip] with each file's sha256, and the sha256 of clips.csv itself."""
    csv_path = root / "clips.csv"
    if not csv_path.is_file():
        raise ClipSetError(f"{csv_path} not found: a clip set is a folder with clips.csv "
                           "(header index,path,label,group) beside its WAV files")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        # Further columns (retrieve writes a split column) are allowed after the four this script reads.
        if reader.fieldnames is None or [h.strip() for h in reader.fieldnames][:4] != ["index", "path", "label", "group"]:
            raise ClipSetError(f"{csv_path} must start with the header index,path,label,group "
                               f"(found {','.join(reader.fieldnames or [])!r})")
        clips = []
        for row_number, row in enumerate(reader):
            line = row_number + 2
            if row["index"] is None or row["group"] is None:
                raise ClipSetError(f"{csv_path} line {line} has fewer than 4 fields")
            try:
                index = int(row["index"])
            except ValueError:
                raise ClipSetError(f"{csv_path} line {line}: index {row['index']!r} is not an integer") from None
            if index != row_number:
                raise ClipSetError(f"{csv_path} line {line}: index is {index} but must equal the row's position "
                                   f"{row_number} (0-based)")
            clips.append(Clip(index, row["path"], root / row["path"], row["label"], row["group"]))
    if not clips:
        raise ClipSetError(f"{csv_path} lists no clips")
    missing = [c for c in clips if not c.path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ClipSetError(f"clip {missing[0].path} listed in {csv_path} line {missing[0].index + 2} "
                           f"does not exist{more}")
    for clip in clips:
        clip.sha256 = sha256_file(clip.path)
    return clips, sha256_file(csv_path)


class Progress:
    """Prints `system: done/total` to stderr every PROGRESS_EVERY clips and at the end."""

    def __init__(self, system, total):
        self.system, self.total, self.done, self.cached = system, total, 0, 0
        self.start = time.perf_counter()
        self.compute_seconds = 0.0

    def step(self, cached, seconds=0.0):
        self.done += 1
        self.cached += cached
        self.compute_seconds += seconds
        if self.done % PROGRESS_EVERY == 0 or self.done == self.total:
            computed = self.done - self.cached
            rate = f", {self.compute_seconds / computed:.2f} s per computed clip" if computed else ""
            left = self.total - self.done
            eta = ""
            if computed and left:
                eta = f", about {left * self.compute_seconds / computed / 60:.1f} min left at most"
            log(f"{self.system}: {self.done}/{self.total} clips ({self.cached} from cache){rate}{eta}")

    def summary(self):
        computed = self.done - self.cached
        return {
            "computed_clips": computed,
            "cached_clips": self.cached,
            "analysis_seconds": round(self.compute_seconds, 3),
            "seconds_per_computed_clip": round(self.compute_seconds / computed, 3) if computed else None,
        }


def atomic_write_bytes(path, data):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_save_npy(path, array):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


# ----------------------------------------------------------------------------------------------- Musly


def musly_decode(path):
    """The whole clip as 22 050 Hz mono float32 samples, decoded by the ffmpeg CLI as pymusly does.

    pymusly's track_from_audiofile(path, length=0) (0 = the whole file; Musly's own default excerpt is 30 s
    from the middle, starting by 48 s) passes the excerpt to ffmpeg as -ss/-to cut to whole seconds, so a
    29.99-s clip loses its last 0.99 s; this decodes the same way without the cut. For a clip of whole seconds
    both give the identical Musly model.
    """
    result = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "f32le", "-ac", "1",
                             "-ar", "22050", "-"], capture_output=True)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(f"ffmpeg exit {result.returncode}: {message[-1] if message else 'no message'}")
    samples = np.frombuffer(result.stdout, dtype="<f4")
    if samples.size == 0:
        raise ValueError("ffmpeg decoded no samples")
    return samples


def run_musly(clips, cache_root):
    """N x N float32 similarity (minus the mutual-proximity distance) and the manifest entry."""
    import pymusly

    method = "timbre"
    jukebox = pymusly.MuslyJukebox(method=method)
    cache = cache_root / f"musly-{pymusly.get_musly_version()}-{method}-ffmpeg-wholeclip"
    cache.mkdir(parents=True, exist_ok=True)
    n = len(clips)
    tracks, failed = [None] * n, {}
    progress = Progress("musly", n)
    for clip in clips:
        cached_file = cache / f"{clip.sha256}.musly"
        started = time.perf_counter()
        if cached_file.is_file():
            blob = cached_file.read_bytes()
            from_cache = True
        else:
            from_cache = False
            try:
                track = jukebox.track_from_audiodata(musly_decode(clip.path))
                blob = jukebox.serialize_track(track)
            except Exception as error:  # undecodable or too short: a NaN row, the run goes on
                failed[clip.index] = (f"Musly could not analyse {clip.path}, which is not decodable or too "
                                      f"short ({one_line(error)})")
                log(f"musly: {failed[clip.index]}")
                progress.step(False, time.perf_counter() - started)
                continue
            atomic_write_bytes(cached_file, blob)
        # musly_track_tobin writes the model's floats in network byte order.
        model = np.frombuffer(blob, dtype=">f4")
        if not np.all(np.isfinite(model)):
            failed[clip.index] = (f"Musly's model of {clip.path} has {np.count_nonzero(~np.isfinite(model))} "
                                  "non-finite values (a near-silent clip?), so it is left out of the jukebox")
            log(f"musly: {failed[clip.index]}")
        else:
            tracks[clip.index] = jukebox.deserialize_track(blob)
        progress.step(from_cache, 0.0 if from_cache else time.perf_counter() - started)

    started = time.perf_counter()
    valid = [i for i in range(n) if tracks[i] is not None]
    similarity = np.full((n, n), np.nan, dtype=np.float32)
    style = valid
    if len(valid) > MUSLY_MAX_STYLE_TRACKS:
        rng = np.random.default_rng(MUSLY_STYLE_SEED)
        style = sorted(rng.choice(valid, size=MUSLY_MAX_STYLE_TRACKS, replace=False).tolist())
    nan_pairs = 0
    if valid:
        jukebox.set_style([tracks[i] for i in style])
        ids = jukebox.add_tracks([tracks[i] for i in valid])
        collection = list(zip(ids, [tracks[i] for i in valid]))
        for k, i in enumerate(valid):
            distances = np.asarray(jukebox.compute_similarity(collection[k], collection), dtype=np.float32)
            similarity[i, valid] = 0.0 - distances  # not -distances: no -0.0 diagonal
        block = similarity[np.ix_(valid, valid)]
        nan_pairs = int(np.count_nonzero(~np.isfinite(block)))
    matrix_seconds = time.perf_counter() - started
    if nan_pairs:
        log(f"musly: warning: {nan_pairs} distances between valid clips are not finite")
    log(f"musly: {len(valid)} clips in the jukebox ({len(style)} set its style), matrix in {matrix_seconds:.1f} s")
    entry = {
        "tool": "Musly via pymusly",
        "version": {"pymusly": pymusly.__version__, "libmusly": pymusly.get_musly_version()},
        "output": "musly.npy",
        "kind": "similarity",
        "shape": [n, n],
        "values": "similarity = -(Musly distance): the timbre method's Jensen-Shannon divergence of single "
                  "Gaussians over 25 MFCCs, normalised by mutual proximity (1 - P1*P2, in [0, 1]) as "
                  "musly_jukebox_similarity returns it; diagonal 0 (Musly's distance to itself); larger = more "
                  "similar",
        "settings": {
            "method": method,
            "analysis": "track_from_audiodata(whole clip decoded by `ffmpeg -f f32le -ac 1 -ar 22050`): "
                        "the whole clip, as track_from_audiofile(length=0) would give without pymusly's cut of "
                        "the decode to whole seconds; the timbre model uses at most the central 60 s",
            "set_style": f"all clips with a finite model, or a random sample of {MUSLY_MAX_STYLE_TRACKS} "
                         f"(numpy default_rng({MUSLY_STYLE_SEED})) when there are more, as Musly's CLI does",
            "style_clips": len(style),
            "matrix": "add_tracks(all valid clips), then compute_similarity(seed, all valid clips) per seed",
        },
        "failed_count": len(failed),
        "failed": [{"index": i, "path": clips[i].rel, "reason": failed[i]} for i in sorted(failed)],
        "nonfinite_pairs_between_valid_clips": nan_pairs,
        "matrix_seconds": round(matrix_seconds, 3),
        "cache": str(cache),
        **progress.summary(),
    }
    return similarity, entry


# --------------------------------------------------------------------------------------------- MusiCNN


def musicnn_load(audio_file):
    """The file as musicnn reads it: librosa.load at 16 kHz mono (float32); ValueError if it cannot be decoded."""
    import librosa
    from musicnn import configuration as config

    try:
        audio, _ = librosa.load(audio_file, sr=config.SR)
    except Exception as error:
        raise ValueError(f"{audio_file} could not be decoded as audio ({one_line(error)})") from error
    return audio


def musicnn_log_mel(audio):
    """musicnn's front end on 16 kHz samples [..., n]: librosa mel power (n_fft 512, hop 256, 96 bands),
    log10(10000 * x + 1) in float32 → [..., frames, 96]. Leading axes are independent signals."""
    import librosa
    from musicnn import configuration as config

    audio_rep = librosa.feature.melspectrogram(y=audio, sr=config.SR, hop_length=config.FFT_HOP,
                                               n_fft=config.FFT_SIZE, n_mels=config.N_MELS)
    return np.log10(10000 * np.swapaxes(audio_rep, -1, -2).astype(np.float32) + 1)


def musicnn_batch_data_float32(audio_file, n_frames, overlap):
    """musicnn 0.1.0's extractor.batch_data with the log compression computed in float32.

    The original casts the mel power to float16 before `log10(10000 * x + 1)`; 10000 * x then overflows to inf
    for x > 6.55 and every clip gets (nearly) the same, partly infinite, embedding. Everything else is as in
    the original: librosa.load at 16 kHz, librosa mel power (n_fft 512, hop 256, 96 bands), patches of n_frames
    starting every `overlap` frames, the last partial patch dropped. Returns (batch [patches, n_frames, 96],
    spectrogram [frames, 96]); raises ValueError when the audio is shorter than one patch.
    """
    audio_rep = musicnn_log_mel(musicnn_load(audio_file))
    starts = range(0, audio_rep.shape[0] - n_frames + 1, overlap)
    if len(starts) == 0:
        raise ValueError(f"{audio_file} is shorter than one {n_frames}-frame MusiCNN patch (about 3 s)")
    batch = np.stack([audio_rep[s:s + n_frames, :] for s in starts])
    return batch, audio_rep


class MusicnnEmbedder:
    """MusiCNN's graph built and restored once (musicnn's extractor rebuilds it for every file)."""

    def __init__(self, threads):
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.compat.v1.layers need Keras 2 (tf-keras)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import warnings

        warnings.filterwarnings("ignore", module="musicnn")
        warnings.filterwarnings("ignore", message=".*tf.compat.v1.layers.*|.*is deprecated.*")
        warnings.filterwarnings("ignore", category=FutureWarning, module="librosa")  # its audioread fallback
        import librosa
        import tensorflow as tf
        import musicnn
        from musicnn import extractor, models  # importing extractor disables eager execution, as musicnn does
        from musicnn import configuration as config

        self.tf, self.config, self.extractor_module = tf, config, extractor
        # As extractor(): input_length 3 s, no overlap → patches of n_frames frames, one after the other.
        self.n_frames = librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP) + 1
        self.overlap = self.n_frames
        assert self.n_frames == MUSICNN_PATCH_FRAMES, self.n_frames
        self.graph = tf.Graph()
        with self.graph.as_default():
            with tf.name_scope("model"):
                self.x = tf.compat.v1.placeholder(tf.float32, [None, self.n_frames, config.N_MELS])
                self.is_training = tf.compat.v1.placeholder(tf.bool)
                outputs = models.define_model(self.x, self.is_training, MUSICNN_MODEL, len(config.MSD_LABELS))
                self.mean_pool = outputs[6]  # y, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool, ...
            session_config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                                      inter_op_parallelism_threads=threads)
            self.session = tf.compat.v1.Session(graph=self.graph, config=session_config)
            self.session.run(tf.compat.v1.global_variables_initializer())
            # musicnn's extractor swallows a failed restore (and then runs on random weights); this one raises.
            self.checkpoint = os.path.join(os.path.dirname(musicnn.__file__), MUSICNN_MODEL) + "/"
            tf.compat.v1.train.Saver().restore(self.session, self.checkpoint)

    def embed(self, path):
        """The clip's 753-d mean_pool embedding: the layer's per-patch output averaged over all patches."""
        batch, _ = musicnn_batch_data_float32(str(path), self.n_frames, self.overlap)
        return self.patch_features(batch).mean(axis=0), batch.shape[0]

    def patch_features(self, batch):
        """mean_pool of each patch of batch [patches, n_frames, 96] → float32 [patches, 753]."""
        # All patches in one run: batch normalisation is in inference mode, so patches do not interact.
        features = self.session.run(self.mean_pool, feed_dict={self.x: batch, self.is_training: False})
        return np.asarray(features, dtype=np.float32)

    def reference_embedding(self, path):
        """The same embedding through musicnn's own extractor() (its batch_data patched to float32)."""
        return self.reference_patch_features(path).mean(axis=0)

    def reference_patch_features(self, path):
        """mean_pool per 3-s patch [patches, 753] through musicnn's own extractor() (batch_data in float32)."""
        module = self.extractor_module
        original = module.batch_data
        module.batch_data = musicnn_batch_data_float32
        try:
            with contextlib.redirect_stdout(sys.stderr):
                _, _, features = module.extractor(str(path), model=MUSICNN_MODEL, extract_features=True)
        finally:
            module.batch_data = original
        return np.asarray(features[MUSICNN_FEATURE], dtype=np.float32)


def _dist_version(name):
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def musicnn_versions():
    """Versions of what computes the embedding, read without importing TensorFlow (slow to load)."""
    return {name: _dist_version(name) for name in ("musicnn", "tensorflow", "tensorflow-cpu", "tf-keras",
                                                   "librosa", "soxr", "numpy")}


def run_musicnn(clips, cache_root, threads):
    """N x 753 float32 embeddings and the manifest entry; TensorFlow is loaded only if a clip is not cached."""
    versions = musicnn_versions()
    model, load_seconds = None, 0.0
    cache = cache_root / f"musicnn-{versions['musicnn']}-{MUSICNN_MODEL}-{MUSICNN_FEATURE}-float32log"
    cache.mkdir(parents=True, exist_ok=True)
    n = len(clips)
    embeddings = np.full((n, MUSICNN_DIM), np.nan, dtype=np.float32)
    failed, computed = {}, []
    progress = Progress("musicnn", n)
    for clip in clips:
        cached_file = cache / f"{clip.sha256}.npy"
        if cached_file.is_file():
            embeddings[clip.index] = np.load(cached_file)
            progress.step(True)
            continue
        if model is None:
            t0 = time.perf_counter()
            model = MusicnnEmbedder(threads)
            load_seconds = time.perf_counter() - t0
            log(f"musicnn: model loaded in {load_seconds:.1f} s")
        t0 = time.perf_counter()
        try:
            vector, _ = model.embed(clip.path)
        except Exception as error:  # undecodable or too short: a NaN row, the run goes on
            failed[clip.index] = f"MusiCNN could not embed {clip.path} ({one_line(error)})"
            log(f"musicnn: {failed[clip.index]}")
            progress.step(False, time.perf_counter() - t0)
            continue
        if vector.shape != (MUSICNN_DIM,):
            raise RuntimeError(f"MusiCNN's {MUSICNN_FEATURE} has shape {vector.shape}, expected ({MUSICNN_DIM},)")
        atomic_save_npy(cached_file, vector)
        embeddings[clip.index] = vector
        computed.append(clip.index)
        progress.step(False, time.perf_counter() - t0)
    for clip in clips:
        row = embeddings[clip.index]
        if clip.index not in failed and not np.all(np.isfinite(row)):
            failed[clip.index] = f"MusiCNN's embedding of {clip.path} is not finite"
            log(f"musicnn: {failed[clip.index]}")
            embeddings[clip.index] = np.nan

    checks = musicnn_checks(model, clips, embeddings, failed, computed)
    entry = {
        "tool": "MusiCNN (musicnn package, TensorFlow 2 through tf.compat.v1)",
        "version": versions,
        "output": "musicnn.npy",
        "kind": "embedding",
        "shape": [n, MUSICNN_DIM],
        "values": f"the {MUSICNN_MODEL} model's '{MUSICNN_FEATURE}' layer (mean over time of the mid-end feature "
                  "maps, 753-d), averaged over the clip's non-overlapping 3-s patches",
        "settings": {
            "model": MUSICNN_MODEL,
            "feature": MUSICNN_FEATURE,
            "input_length_s": 3,
            "patch_frames": MUSICNN_PATCH_FRAMES,
            "patch_hop_frames": MUSICNN_PATCH_FRAMES,
            "front_end": "librosa.load(sr=16000), melspectrogram(n_fft=512, hop=256, n_mels=96), "
                         "log10(10000 * power + 1) in float32 (musicnn 0.1.0 casts to float16 first, which "
                         "overflows)",
            "tensorflow_threads": {"intra_op": threads, "inter_op": threads},
            "TF_USE_LEGACY_KERAS": os.environ.get("TF_USE_LEGACY_KERAS"),
        },
        "failed_count": len(failed),
        "failed": [{"index": i, "path": clips[i].rel, "reason": failed[i]} for i in sorted(failed)],
        "checks": checks,
        "model_load_seconds": round(load_seconds, 3),
        "cache": str(cache),
        **progress.summary(),
    }
    return embeddings, entry


def musicnn_checks(model, clips, embeddings, failed, computed):
    """Guards against the float16 bug's symptom and against drift from musicnn's own extractor."""
    checks = {}
    ok = [c.index for c in clips if c.index not in failed]
    distinct_shas = {}
    for i in ok:
        distinct_shas.setdefault(clips[i].sha256, i)
    rows = [distinct_shas[s] for s in distinct_shas]
    if len(rows) >= 2:
        x = embeddings[rows]
        unique_rows = len(np.unique(x, axis=0))
        spread = float(np.max(np.abs(x - x[0])))
        checks["distinct_clips"] = len(rows)
        checks["distinct_embeddings"] = unique_rows
        checks["max_abs_difference_from_first"] = spread
        if unique_rows < len(rows) or spread < 1e-4:
            raise RuntimeError(f"MusiCNN gave {unique_rows} distinct embeddings for {len(rows)} distinct clips "
                               "(the float16 front-end bug?); refusing to write them")
    if computed and model is not None:
        i = computed[0]
        reference = model.reference_embedding(clips[i].path)
        difference = float(np.max(np.abs(reference - embeddings[i])))
        scale = float(np.max(np.abs(reference)))
        checks["recomputed_with_musicnn_extractor"] = {"index": i, "max_abs_difference": difference,
                                                       "max_abs_value": scale}
        if not difference <= 1e-4 * max(scale, 1.0):
            raise RuntimeError(f"MusiCNN embedding of {clips[i].path} differs from musicnn's own extractor by "
                               f"{difference:g} (values up to {scale:g})")
    return checks


# ------------------------------------------------------------------------------------------------ main


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", type=Path, help="clip-set folder holding clips.csv")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help="comma-separated subset of: " + ", ".join(SYSTEMS))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "retrieve-peers",
                        help="per-clip cache folder (default ~/.cache/retrieve-peers)")
    parser.add_argument("--threads", type=int, default=1,
                        help="TensorFlow intra- and inter-op threads for MusiCNN (default 1)")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        parser.error(f"--systems {args.systems!r}: choose from {', '.join(SYSTEMS)}")
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: must be at least 1")

    root = args.clips
    try:
        clips, csv_sha = read_clips(root)
    except ClipSetError as error:
        log(f"error: {error}")
        return 2
    log(f"{len(clips)} clips in {root / 'clips.csv'} (sha256 {csv_sha[:12]}…)")
    out_dir = root / "peers"
    out_dir.mkdir(exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    manifest = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            log(f"warning: {manifest_path} is not valid JSON; starting a new one")
    manifest.setdefault("systems", {})
    manifest["description"] = ("Peer descriptors for the quality benchmark, written by bench/quality_peers.py; "
                               "an entry whose clips_csv_sha256 differs from clips.csv's is stale.")

    runners = {"musly": lambda: run_musly(clips, args.cache),
               "musicnn": lambda: run_musicnn(clips, args.cache, args.threads)}
    for system in systems:
        log(f"{system}: start")
        started = time.perf_counter()
        cpu_started = time.process_time()
        result, entry = runners[system]()
        entry["seconds"] = round(time.perf_counter() - started, 3)
        entry["cpu_seconds"] = round(time.process_time() - cpu_started, 3)
        entry["clips"] = len(clips)
        entry["clips_csv_sha256"] = csv_sha
        entry["cpu"] = cpu_name()
        entry["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        atomic_save_npy(out_dir / entry["output"], result)
        manifest["systems"][system] = entry
        atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        log(f"{system}: wrote {out_dir / entry['output']} in {entry['seconds']:.1f} s, "
            f"{entry['failed_count']} failed clip(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
