#!/usr/bin/env python3
"""Our t-SNE vs openTSNE 1.0.4, side by side on the same inputs, one evaluator for both.

Datasets: scikit-learn's bundled digits (1,797 × 64) and, if a gallery build cache is given, its
MobileNetV2 features reduced to 50-d by PCA (the public-art collection: 5,736 × 50).
For each dataset and 2D/3D: wall seconds, KL(P‖Q) with P = openTSNE's perplexity-30 affinities on
the input (exact Q over all pairs), trustworthiness@10 (scikit-learn), 10-NN preservation, and for
digits the 10-NN label accuracy. Both use 2 threads (this machine's cores), PCA initialisation,
250 early-exaggeration iterations (12) + 500.

    pip install openTSNE==1.0.4 scikit-learn
    python3 bench/tsne_peers.py [--features OUT/cache/features.bin] [--markdown bench/results/tsne.md]
"""
import argparse
import os
import struct
import zlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import openTSNE
from openTSNE.affinity import PerplexityBasedNN
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = 2


def read_features(path):
    """Feature vectors of a gallery build's cache (plugins/gallery/src/cache.rs): HRFEAT2 records
    (b"HRFR", payload length, CRC-32, payload), the later record of a key winning; damaged records
    are skipped. The first format (HRFEAT1, no checksums) is read too."""
    b = open(path, "rb").read()
    if b[:8] == b"HRFEAT1\n":
        p, rows = 8, []
        while p + 4 <= len(b):
            (klen,) = struct.unpack_from("<I", b, p)
            need = 4 + klen + 8 + 1280 * 4
            if p + need > len(b):
                break
            rows.append(np.frombuffer(b, "<f4", 1280, p + 4 + klen + 8))
            p += need
        return np.array(rows, np.float32)
    assert b[:8] == b"HRFEAT2\n", "not a headroom feature cache"
    p, by_key = 8, {}
    while p + 12 <= len(b):
        if b[p:p + 4] != b"HRFR":
            p = b.find(b"HRFR", p + 1)
            if p < 0:
                break
            continue
        length, crc = struct.unpack_from("<II", b, p + 4)
        payload = b[p + 12:p + 12 + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            p += 1
            continue
        (klen,) = struct.unpack_from("<I", payload, 0)
        key = payload[4:4 + klen]
        (n,) = struct.unpack_from("<I", payload, 4 + klen + 8)
        by_key[key] = np.frombuffer(payload, "<f4", n, 4 + klen + 12)
        p += 12 + length
    return np.array(list(by_key.values()), np.float32)


def kl_divergence(P, Y):
    n = Y.shape[0]
    Y = Y.astype(np.float64)
    z = 0.0
    for s in range(0, n, 1024):
        d = ((Y[s:s + 1024, None, :] - Y[None, :, :]) ** 2).sum(-1)
        q = 1.0 / (1.0 + d)
        q[np.arange(d.shape[0]), np.arange(s, s + d.shape[0])] = 0.0
        z += q.sum()
    P = P.tocoo()
    d = ((Y[P.row] - Y[P.col]) ** 2).sum(-1)
    q = 1.0 / (1.0 + d) / z
    p = P.data.astype(np.float64)
    m = p > 0
    return float((p[m] * np.log(p[m] / q[m])).sum())


def knn_preservation(X, Y, k=10):
    a = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X, return_distance=False)[:, 1:]
    b = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y, return_distance=False)[:, 1:]
    return float(np.mean([len(set(r) & set(s)) / k for r, s in zip(a, b)]))


def label_accuracy(Y, labels, k=10):
    nn = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y, return_distance=False)[:, 1:]
    votes = labels[nn]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return float((pred == labels).mean())


def run_ours(X, dims, exe):
    with tempfile.TemporaryDirectory() as d:
        xin, yout = os.path.join(d, "x.f32"), os.path.join(d, "y.f32")
        with open(xin, "wb") as f:
            f.write(struct.pack("<II", *X.shape))
            f.write(np.ascontiguousarray(X, "<f4").tobytes())
        t = time.perf_counter()
        out = subprocess.run(exe + ["--input", xin, "--dims", str(dims), "--out", yout],
                             check=True, capture_output=True, text=True, env={**os.environ, "RAYON_NUM_THREADS": str(THREADS)}).stdout
        wall = time.perf_counter() - t
        inner = float([l for l in out.splitlines() if l.startswith("seconds")][0].split()[1])
        b = open(yout, "rb").read()
        r, c = struct.unpack_from("<II", b)
        return np.frombuffer(b, "<f4", r * c, 8).reshape(r, c), inner, wall


def run_opentsne(X, dims):
    t = time.perf_counter()
    Y = openTSNE.TSNE(n_components=dims, perplexity=30, n_jobs=THREADS, random_state=42,
                      negative_gradient_method="fft" if dims < 3 else "bh", verbose=False).fit(X)
    return np.asarray(Y), time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", help="a gallery build's cache/features.bin")
    ap.add_argument("--markdown", help="also write the table here")
    ap.add_argument("--digits-only", action="store_true")
    a = ap.parse_args()
    subprocess.run(["cargo", "bench", "--profile", "dev", "--workspace", "--bench", "tsne", "--no-run"], check=True, cwd=ROOT)
    exe = ["cargo", "bench", "-q", "--profile", "dev", "--workspace", "--bench", "tsne", "--"]
    sets = []
    digits = load_digits()
    sets.append(("digits", digits.data.astype(np.float32), digits.target))
    # Warm openTSNE up (imports, first-call setup) so that its timings are steady-state.
    openTSNE.TSNE(n_components=2, n_jobs=THREADS, n_iter=10, early_exaggeration_iter=10, verbose=False).fit(digits.data[:300])
    openTSNE.TSNE(n_components=3, n_jobs=THREADS, n_iter=10, early_exaggeration_iter=10, negative_gradient_method="bh", verbose=False).fit(digits.data[:300])
    if a.features and not a.digits_only:
        F = read_features(a.features)
        sets.append((f"public-art ({F.shape[0]})", PCA(50, random_state=0).fit_transform(F).astype(np.float32), None))
    rows = []
    for name, X, labels in sets:
        P = PerplexityBasedNN(X, perplexity=30, n_jobs=THREADS, random_state=0, method="exact" if len(X) < 3000 else "annoy").P
        for dims in (2, 3):
            for who in ("openTSNE", "headroom"):
                if who == "openTSNE":
                    Y, secs = run_opentsne(X, dims)
                    note = "fft" if dims < 3 else "bh"
                else:
                    Y, secs, wall = run_ours(X, dims, exe)
                    note = f"bh (process {wall:.2f} s)"
                row = dict(data=name, dims=dims, who=who, method=note, seconds=secs, kl=kl_divergence(P, Y),
                           trust=trustworthiness(X, Y, n_neighbors=10), knn=knn_preservation(X, Y),
                           acc=label_accuracy(Y, labels) if labels is not None else float("nan"))
                rows.append(row)
                print(f"{name:18} {dims}D {who:9} {secs:7.2f} s  KL {row['kl']:.4f}  trust@10 {row['trust']:.4f}  "
                      f"10-NN kept {row['knn']:.3f}  label acc {row['acc']:.3f}  [{note}]", flush=True)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("| data | dims | t-SNE | seconds | KL | trustworthiness@10 | 10-NN preserved | 10-NN label acc |\n")
            f.write("|---|---|---|---|---|---|---|---|\n")
            for r in rows:
                f.write(f"| {r['data']} | {r['dims']}D | {r['who']} ({r['method']}) | {r['seconds']:.2f} | {r['kl']:.4f} | "
                        f"{r['trust']:.4f} | {r['knn']:.3f} | {r['acc']:.3f} |\n")


if __name__ == "__main__":
    sys.exit(main())
