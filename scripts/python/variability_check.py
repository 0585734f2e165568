"""Independent numpy reference for `zoo variability` (used by the Swift CLI tests).

    python3 variability_check.py PREDICTIONS.csv   -> prints the measures of one group as JSON

PREDICTIONS.csv is what `zoo variability --predictions-csv` writes: run, epoch, example, label,
predicted, p_true, p_predicted (probabilities as stored, q/65535). All runs in the file form one
group. Every k-subset and every unordered pair of disjoint k-subsets is enumerated (so the
group must be small enough for `zoo variability` to enumerate them too).

Definitions (Zech, Forde & Littman 2019; see Sources/ZooAnalysis/Variability.swift):
correct[m, i] = predicted == label; flip fraction = share of examples right for some members and
wrong for others; pairwise flip rate / disagreement = mean over member pairs of the share of
examples exactly one gets right / with different classes; entropy (bits) of the predicted class
across members per example; probability CV = mean over examples (mean > 0) of
std(ddof=1)/mean of the true-class probability; a k-ensemble votes, ties going to the larger sum
of the voters' quantized predicted-class probabilities, then to the smaller class.
"""
import csv
import itertools
import json
import sys

import numpy as np


def load(path):
    rows = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["run"], []).append(r)
    runs = list(rows)
    n = len(rows[runs[0]])
    label = np.array([int(r["label"]) for r in rows[runs[0]]])
    pred = np.array([[int(r["predicted"]) for r in rows[m]] for m in runs])
    p_true = np.array([[float(r["p_true"]) for r in rows[m]] for m in runs])
    q_pred = np.array([[round(float(r["p_predicted"]) * 65535) for r in rows[m]] for m in runs])
    for m in runs:
        assert [int(r["example"]) for r in rows[m]] == list(range(n))
        assert [int(r["label"]) for r in rows[m]] == list(label)
    return runs, label, pred, p_true, q_pred


def ensemble_correct(members, label, pred, q_pred):
    out = np.zeros(len(label), dtype=bool)
    for i in range(len(label)):
        votes, conf = {}, {}
        for m in members:
            c = pred[m, i]
            votes[c] = votes.get(c, 0) + 1
            conf[c] = conf.get(c, 0) + q_pred[m, i]
        best = max(votes, key=lambda c: (votes[c], conf[c], -c))
        out[i] = best == label[i]
    return out


def main(path):
    runs, label, pred, p_true, q_pred = load(path)
    k_members, n = pred.shape
    correct = pred == label[None, :]
    right = correct.sum(0)
    pairs = list(itertools.combinations(range(k_members), 2))
    entropy = []
    for i in range(n):
        _, counts = np.unique(pred[:, i], return_counts=True)
        p = counts / k_members
        entropy.append(float(-(p * np.log2(p)).sum()) + 0.0)
    entropy = np.array(entropy)
    mean = p_true.mean(0)
    keep = mean > 0
    cv = (p_true[:, keep].std(0, ddof=1) / mean[keep]).mean() if k_members > 1 else float("nan")
    ensembles = []
    for k in range(1, k_members + 1):
        subsets = list(itertools.combinations(range(k_members), k))
        accuracies = [ensemble_correct(s, label, pred, q_pred).mean() for s in subsets]
        point = {"size": k, "accuracy": float(np.mean(accuracies)),
                 "accuracySD": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else None}
        if 2 * k <= k_members:
            flips = []
            for a in subsets:
                rest = [m for m in range(k_members) if m not in a and m > a[0]]
                for b in itertools.combinations(rest, k):
                    flips.append((ensemble_correct(a, label, pred, q_pred) != ensemble_correct(b, label, pred, q_pred)).mean())
            point["flipRate"] = float(np.mean(flips))
            point["pairs"] = len(flips)
        ensembles.append(point)
    print(json.dumps({
        "runs": runs,
        "memberAccuracies": {m: float(correct[j].mean()) for j, m in enumerate(runs)},
        "flipFraction": float(((right > 0) & (right < k_members)).mean()),
        "alwaysCorrect": float((right == k_members).mean()),
        "alwaysWrong": float((right == 0).mean()),
        "pairwiseFlipRate": float(np.mean([(correct[a] != correct[b]).mean() for a, b in pairs])),
        "pairwiseDisagreement": float(np.mean([(pred[a] != pred[b]).mean() for a, b in pairs])),
        "entropyMean": float(entropy.mean()),
        "entropyMedian": float(np.quantile(entropy, 0.5)),
        "entropyP90": float(np.quantile(entropy, 0.9)),
        "entropyMax": float(entropy.max()),
        "unanimous": float((entropy == 0).mean()),
        "probabilityCV": float(cv),
        "ensembles": ensembles,
    }, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
