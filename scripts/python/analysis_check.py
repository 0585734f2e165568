"""Independent numpy/scipy/scikit-learn reference for Zoo's analysis (used by the Swift tests).

    python3 analysis_check.py FOLDER

FOLDER holds what a Swift test wrote:
  features.csv  split (train/test), target, then the feature columns (Zoo's sorted order);
  grid.csv      hyperparameter columns a, b, c, then measure and gap, one row per run;
  zoo.json      Zoo's numbers: ridge_r2, ridge_lambda, ridge_predictions, trees_r2, tau, psi,
                psi_per_hyperparameter, cmi.
Recomputes each and exits 1 naming the first that disagrees:
  - Kendall's tau_b (scipy.stats.kendalltau) and the granulated coefficient Psi (Jiang et al. 2019:
    tau within groups sharing every other hyperparameter, averaged per hyperparameter, then over
    them), to 1e-9;
  - the conditional mutual information score (Jiang et al. 2019 section 6): over ordered pairs of
    distinct runs, I(sign measure diff; sign gap diff | both runs' values of S) / H(sign gap diff | S),
    cells weighted by their share of pairs, minimized over pairs S of hyperparameters, to 1e-9
    (PGDL's scorer, which also pairs a run with itself and averages cells uniformly, is printed
    beside it);
  - ridge regression (StandardScaler + sklearn Ridge at Zoo's lambda): held-out R^2 within 0.02;
  - gradient-boosted trees (sklearn GradientBoostingRegressor, 100 trees of depth 3, shrinkage 0.1):
    held-out R^2 within 0.05.
"""
import itertools
import json
import os
import sys

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler


def tau(x, y):
    if len(x) < 2:
        return float("nan")
    return float(kendalltau(x, y).statistic)


def psi(frame, hps):
    per = []
    for h in hps:
        others = [o for o in hps if o != h]
        taus = [tau(g["measure"].to_numpy(), g["gap"].to_numpy()) for _, g in frame.groupby(others)]
        taus = [t for t in taus if not np.isnan(t)]
        per.append(float(np.mean(taus)) if taus else float("nan"))
    defined = [p for p in per if not np.isnan(p)]
    return float(np.mean(defined)), per


def cmi(frame, hps, size=2):
    x, y = frame["measure"].to_numpy(), frame["gap"].to_numpy()
    n = len(x)
    off_diagonal = ~np.eye(n, dtype=bool)
    vg = (y[:, None] > y[None, :])[off_diagonal]
    vm = (x[:, None] > x[None, :])[off_diagonal]
    best = float("inf")
    for subset in itertools.combinations(hps, size):
        codes = [frame[h].astype(str).to_numpy() for h in subset]
        cell = np.array(["|".join(f"{c[i]}>{c[j]}" for c in codes) for i in range(n) for j in range(n) if i != j])
        information = entropy = 0.0
        for key in np.unique(cell):
            mask = cell == key
            weight = mask.mean()
            joint = np.histogram2d(vg[mask].astype(float), vm[mask].astype(float), bins=2, range=[[0, 1], [0, 1]])[0]
            joint /= joint.sum()
            pg, pm = joint.sum(axis=1), joint.sum(axis=0)
            nz = joint > 0
            information += weight * np.sum(joint[nz] * np.log(joint[nz] / np.outer(pg, pm)[nz]))
            entropy -= weight * np.sum(pg[pg > 0] * np.log(pg[pg > 0]))
        if entropy > 0:
            best = min(best, max(0.0, information) / entropy)
    return best


def pgdl_cmi(frame, hps):
    """PGDL's scorer as published: every ordered pair including (i, i), cells averaged uniformly."""
    x, y = frame["measure"].to_numpy(), frame["gap"].to_numpy()
    best = float("inf")
    for h1, h2 in itertools.permutations(hps, 2):
        values = {h: sorted(frame[h].astype(str).unique()) for h in (h1, h2)}
        keys = [a + b + c + d for a in values[h1] for b in values[h1] for c in values[h2] for d in values[h2]]
        table = {k: np.zeros((2, 2)) for k in keys}
        c1, c2 = frame[h1].astype(str).to_numpy(), frame[h2].astype(str).to_numpy()
        for i in range(len(x)):
            for j in range(len(x)):
                table[c1[i] + c1[j] + c2[i] + c2[j]][0 if y[i] > y[j] else 1, 0 if x[i] > x[j] else 1] += 1
        mis, hs = [], []
        for t in table.values():
            p = t / t.sum()
            pg, pm = p.sum(axis=1), p.sum(axis=0)
            nz = p > 0
            mis.append(np.sum(p[nz] * np.log2(p[nz] / np.outer(pg, pm)[nz])))
            hs.append(-np.sum(pg * np.log2(pg + 1e-12)))
        best = min(best, np.mean(mis) / np.mean(hs))
    return best


def main(folder):
    zoo = json.load(open(os.path.join(folder, "zoo.json")))
    failures = []

    def check(name, ours, reference, tolerance):
        ok = abs(ours - reference) <= tolerance
        print(f"{name}: Zoo {ours:.6f}, reference {reference:.6f} ({'ok' if ok else 'DIFFERENT'}, tolerance {tolerance})")
        if not ok:
            failures.append(name)

    grid = pd.read_csv(os.path.join(folder, "grid.csv"), dtype={"a": str, "b": str, "c": str})
    hps = ["a", "b", "c"]
    check("tau", zoo["tau"], tau(grid["measure"], grid["gap"]), 1e-9)
    reference_psi, reference_per = psi(grid, hps)
    check("psi", zoo["psi"], reference_psi, 1e-9)
    for h, ours, ref in zip(hps, zoo["psi_per_hyperparameter"], reference_per):
        check(f"psi[{h}]", ours, ref, 1e-9)
    check("cmi", zoo["cmi"], cmi(grid, hps), 1e-9)
    print(f"cmi as PGDL's scorer computes it (self pairs, uniform cells): {pgdl_cmi(grid, hps):.6f}")

    frame = pd.read_csv(os.path.join(folder, "features.csv"))
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    columns = [c for c in frame.columns if c not in ("split", "target")]
    scaler = StandardScaler().fit(train[columns].to_numpy())
    ridge = Ridge(alpha=zoo["ridge_lambda"]).fit(scaler.transform(train[columns].to_numpy()), train["target"].to_numpy())
    predicted = ridge.predict(scaler.transform(test[columns].to_numpy()))
    check("ridge held-out R2", zoo["ridge_r2"], r2_score(test["target"], predicted), 0.02)
    print(f"ridge predictions: largest difference {np.max(np.abs(predicted - np.array(zoo['ridge_predictions']))):.2e}")
    trees = GradientBoostingRegressor(n_estimators=100, learning_rate=0.1, max_depth=3, random_state=0)
    trees.fit(train[columns].to_numpy(), train["target"].to_numpy())
    check("trees held-out R2", zoo["trees_r2"], r2_score(test["target"], trees.predict(test[columns].to_numpy())), 0.05)
    if failures:
        print("disagree: " + ", ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
