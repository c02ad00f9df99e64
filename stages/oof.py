"""oof: K person-grouped folds -> out-of-fold probabilities (and age in years) for every train image,
from fine-tuned networks, a linear probe on the frozen embeddings, or the mean of both (oof.method),
each averaged over `oof.draws` draws of the person folds (seeds seed, seed + 1, ...)."""

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.curation import probe
from pipeline.files import write_npz
from pipeline.curation.folds import duplicate_pairs, person_folds, person_strata
from pipeline.labels import head_labels

params = stage.start(hub=True)
cfg = dict(params["oof"])
k, method, probe_c, draws = cfg.pop("folds"), cfg.pop("method"), cfg.pop("probe_c"), cfg.pop("draws")
seeds = [params["seed"] + r for r in range(draws)]  # one person-fold draw each; their outputs are averaged
labels = pd.read_parquet("data/processed/labels.parquet")
rows = labels["row"].to_numpy()
assert (rows == np.arange(len(rows))).all(), "train rows must lead the manifest (ingest order)"
# a flagged duplicate (two ids, one person) joins its original's fold: on the training side the copy
# would vouch for the original's labels, right or wrong
pairs = duplicate_pairs(pd.read_csv("data/interim/issue_types.csv", dtype=str, keep_default_na=False))
args = (labels["label"].to_numpy(), labels["person_id"].to_numpy(), person_strata(labels))
ages = labels["age"].to_numpy(dtype=float)
parts = []
if method in ("network", "ensemble"):
    from pipeline.model.config import TrainConfig
    from pipeline.model.oof import out_of_fold, out_of_fold_spread  # torch and timm: only when networks train

    stage.pin_threads(params)
    tcfg = TrainConfig.from_dict({**cfg, "seed": params["seed"]})
    crops = np.load("data/interim/crops.npy", mmap_mode="r")[: len(rows)]  # a view, not a copy
    nets = []
    for seed in seeds:
        kw = dict(k=k, cfg=tcfg, seed=seed, ages=ages, together=pairs)
        if tcfg.nproc > 1:  # folds side by side, one process each (GPU i mod count); same result on CPU
            nets.append(out_of_fold_spread("data/interim/crops.npy", len(rows), *args, nproc=tcfg.nproc, **kw))
        else:
            nets.append(out_of_fold(crops, *args, **kw))
    parts.append(probe.ensemble(*nets))
if method in ("probe", "ensemble"):
    features = np.load("data/interim/embeddings.npy", mmap_mode="r")[rows]
    band = np.load("data/interim/age_band.npy", mmap_mode="r")[rows]  # no columns when embed.age_band is 0
    heads = head_labels(labels, age_edges=params["relabel"]["age_edges"])
    fits = []
    for seed in seeds:
        folds = person_folds(args[1], args[2], k=k, seed=seed, together=pairs)  # the networks' folds
        fits.append({**probe.out_of_fold(features, heads, ages, folds, c=probe_c, age_features=band,
                                        progress=True), "fold": folds})
    parts.append(probe.ensemble(*fits))
oof = probe.ensemble(*parts)  # `fold` is the first draw's
if len(parts) > 1 and all("age_years" in p for p in parts):  # ensemble: each model's age is a view of it
    oof["age_views"] = np.column_stack([p.get("age_views", p["age_years"]) for p in parts])
write_npz("data/processed/oof.npz", image_id=labels["image_id"].to_numpy().astype(str), **oof)
acc = float((oof["probs"].argmax(1) == labels["label"].to_numpy()).mean())
print(f"oof ({method}): {len(labels)} images, {k} folds x {draws} draws ({len(pairs)} flagged duplicate pairs "
      f"kept together), out-of-fold accuracy vs given labels {acc:.3f}")
