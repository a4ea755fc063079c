"""Hubness corrections of the similarity, scored like bench/run quality (leave-labels-out folds, same clips).

    .venv/bin/python bench/quality_hubness.py RESULTS [DESCRIPTORS.npy]

RESULTS is a folder with report.json (from `retrieve evaluate --leave-labels-out --json-out`) and
folds/fold-N.safetensors: each fold's clips are embedded by its model (`retrieve embed`, cached as
RESULTS/fold-N-clips.npy); or, with DESCRIPTORS.npy (N x d in clips.csv order, e.g. a peer's), those are
z-scored per fold instead. Prints P@10, mAP and macro P@10 (mean over folds) for raw cosine, z-scored and
centred cosine, CSLS (k = 5, 10, 20) and mutual proximity (Gaussian and empirical). ONLY=1,3 restricts the
folds; FOLDS=folds.json gives the folds' labels when there is no report.json; RETRIEVE names the binary.
"""
import json, os, subprocess, sys
import numpy as np
from scipy.stats import norm
exp = sys.argv[1]
clips_dir = os.environ.get("CLIPS", "bench/results/quality/clips")
rows = [l.rstrip("\n").split(",") for l in open(f"{clips_dir}/clips.csv")][1:]
paths = [r[1] for r in rows]; labels = np.array([r[2] for r in rows]); groups = np.array([r[3] for r in rows])
if os.path.exists(f"{exp}/report.json"):
    folds = [f["labels"] for f in json.load(open(f"{exp}/report.json"))["folds"]]
else:  # LeaveLabelsOut.assign: FNV-1a of seed and name, then round-robin
    folds = json.load(open(os.environ["FOLDS"]))
def metrics(S, lab, grp):
    n = len(lab); p10 = []; aps = []; perlab = {}
    for i in range(n):
        s = S[i].copy(); mask = grp != grp[i]
        idx = np.where(mask)[0]; order = idx[np.argsort(-s[idx], kind="stable")]
        rel = lab[order] == lab[i]
        p = rel[:10].mean(); p10.append(p); perlab.setdefault(lab[i], []).append(p)
        hits = np.cumsum(rel); ranks = np.arange(1, len(rel) + 1)
        aps.append((hits[rel] / ranks[rel]).mean() if rel.any() else 0)
    return np.mean(p10), np.mean(aps), np.mean([np.mean(v) for v in perlab.values()])
def variants(E):
    E = E / np.linalg.norm(E, axis=1, keepdims=True)
    out = {}
    C = E @ E.T; out["cosine"] = C
    Z = (E - E.mean(0)) / (E.std(0) + 1e-8); Z /= np.linalg.norm(Z, axis=1, keepdims=True); out["z"] = Z @ Z.T
    Ce = E - E.mean(0); Ce /= np.linalg.norm(Ce, axis=1, keepdims=True); out["centred"] = Ce @ Ce.T
    for k in (5, 10, 20):
        C2 = C.copy(); np.fill_diagonal(C2, -np.inf)
        r = np.sort(C2, axis=1)[:, -k:].mean(1)
        out[f"csls{k}"] = 2 * C - r[None, :] - r[:, None]
    D = 1 - C; n = len(D); off = ~np.eye(n, dtype=bool)
    mu = np.array([D[i][off[i]].mean() for i in range(n)]); sd = np.array([D[i][off[i]].std() for i in range(n)])
    sx = norm.sf(D, loc=mu[:, None], scale=sd[:, None]); sy = norm.sf(D, loc=mu[None, :], scale=sd[None, :])
    out["mp-gauss"] = sx * sy
    # empirical MP: fraction of others farther than d from both
    R = np.argsort(np.argsort(D, axis=1), axis=1) / (n - 1)  # rank of d_xy among x's distances
    out["mp-emp"] = (1 - R) * (1 - R.T)
    return out
res = {}
for f, labs in enumerate(folds, 1):
    if os.environ.get("ONLY") and str(f) not in os.environ["ONLY"].split(","): continue
    sel = np.where(np.isin(labels, labs))[0]
    if len(sys.argv) > 2:
        E = np.load(sys.argv[2])[sel].astype(np.float64)
        if os.environ.get("ZSCORE", "1") == "1": E = (E - E.mean(0)) / (E.std(0) + 1e-8)
        for name, S in variants(E).items():
            res.setdefault(name, []).append(metrics(S, labels[sel], groups[sel]))
        continue
    npy = f"{exp}/fold-{f}-clips.npy"
    if not os.path.exists(npy):
        subprocess.run([os.environ.get("RETRIEVE", ".build/release/retrieve"), "embed", "--model", f"{exp}/folds/fold-{f}.safetensors",
                        *[f"{clips_dir}/{paths[i]}" for i in sel], "--out", npy], check=True, stdout=subprocess.DEVNULL)
    E = np.load(npy)
    for name, S in variants(E).items():
        res.setdefault(name, []).append(metrics(S, labels[sel], groups[sel]))
for name, v in res.items():
    v = np.array(v); print(f"{name:10s} P@10 {v[:,0].mean():.3f}±{v[:,0].std(ddof=1):.3f}  mAP {v[:,1].mean():.3f}  macro {v[:,2].mean():.3f}  worst {v[:,0].min():.3f}")
