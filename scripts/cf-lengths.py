#!/usr/bin/env python3
"""How much of a foundation's ranking sits in its vectors' lengths (README, "Unit input is not free").

    python3 scripts/cf-lengths.py STORE RUN [mf|lightgcn]

Recomputes the foundation's user and item vectors of run RUN from `STORE/runs/RUN/cf/best.safetensors`
(LightGCN: propagated over the positive train edges, 2 layers, mean of layers 0..2, as
crates/collm-cf/src/lightgcn.rs does), checks their dot products against the per-row logits the run
stored (`predictions/cf/valid.tsv`), and prints the AUC on those rows of: the dot product, the cosine,
the item vector's length alone and the user vector's length alone, for all, warm and cold rows.
Needs numpy and safetensors; reads ../shared/data/ml-1m-collm.
"""
import csv
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

DATA = Path(__file__).resolve().parents[2] / "shared/data/ml-1m-collm"


def auc(y, s):
    """Mann-Whitney AUC with tied scores sharing their mean rank."""
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j + 2) / 2
        i = j + 1
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def lightgcn(w, layers=2):
    users, items = w["embedding_user.weight"], w["embedding_item.weight"]
    nu = len(users)
    n = nu + len(items)
    adj = np.zeros((n, n), np.float32)
    for row in csv.DictReader(open(DATA / "train.tsv"), delimiter="\t"):
        if int(row["label"]) == 1:
            u, i = int(row["uid"]), nu + int(row["iid"])
            adj[u, i] = adj[i, u] = 1
    deg = adj.sum(1)
    d = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1)), 0)
    norm = adj * d[:, None] * d[None, :]
    out = [np.concatenate([users, items])]
    for _ in range(layers):
        out.append(norm @ out[-1])
    mean = np.mean(out, axis=0)
    return mean[:nu], mean[nu:]


def main():
    store, run, kind = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    w = load_file(store / "runs" / run / "cf/best.safetensors")
    users, items = lightgcn(w) if kind == "lightgcn" else (w["user_embedding.weight"], w["item_embedding.weight"])
    rows = list(csv.DictReader(open(store / "runs" / run / "predictions/cf/valid.tsv"), delimiter="\t"))
    col = lambda name, t: np.array([t(r[name]) for r in rows])
    u, i, y, logit = col("uid", int), col("iid", int), col("label", int), col("logit", float)
    warm = col("warm", int) == 1
    dot = (users[u] * items[i]).sum(1)
    print(f"{run} ({kind}): {len(rows)} rows; max |dot - stored logit| = {np.abs(dot - logit).max():.1e}")
    lu, li = np.linalg.norm(users[u], axis=1), np.linalg.norm(items[i], axis=1)
    for name, s in [("dot", dot), ("cosine", dot / np.maximum(lu * li, 1e-12)), ("|item| alone", li), ("|user| alone", lu)]:
        print(f"  {name:13s} all {auc(y, s):.4f}  warm {auc(y[warm], s[warm]):.4f}  cold {auc(y[~warm], s[~warm]):.4f}")


if __name__ == "__main__":
    main()
