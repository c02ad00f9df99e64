"""evaluate: reports/metrics.json (held-out person fold; on synthetic data also clean-truth F1 and
noise precision/recall) and the plots for `dvc plots show`."""

from pathlib import Path

import pandas as pd

from pipeline import stage
from pipeline.curation.metrics import headline, score_issues, score_types, truth_labels
from pipeline.files import write_csv, write_json
from pipeline.model.evaluate import (classification_metrics, confusion_table, holdout_record, per_class_f1,
                                     plot_confusion, plot_training_curves)

params = stage.start()
edges = params["relabel"]["age_edges"]
val = pd.read_parquet("models/val_predictions.parquet")
metrics = classification_metrics(val["label"], val["pred"])  # held-out persons, reviewed labels (any arm)
write_json(holdout_record(val), "reports/holdout.json")
write_csv(confusion_table(val["label"], val["pred"], age_edges=edges), "reports/plots/confusion.csv")
write_csv(per_class_f1(val["label"], val["pred"], age_edges=edges), "reports/plots/per_class_f1.csv")
plot_confusion(val["label"], val["pred"], Path("reports/plots/confusion.png"), age_edges=edges,
               title="held-out person fold(s) vs reviewed labels")
plot_training_curves(Path("reports/train"), Path("reports/plots/training_curves.png"))

truth_path = Path(params["data"]["root"]) / "truth.csv"
if truth_path.exists():  # synthetic data: score against the clean labels the generator kept
    truth = pd.read_csv(truth_path, dtype={"person_id": str, "image_id": str, "duplicate_of": str})
    ev = pd.read_parquet("data/processed/eval_predictions.parquet")
    clean = truth_labels(truth, ev["image_id"], age_edges=edges)
    metrics["truth"] = classification_metrics(clean, ev["pred"])
    issues = pd.read_csv("reports/noise/issues.csv", dtype={"person_id": str, "image_id": str, "given": str, "suggested": str})
    metrics["noise"] = score_issues(issues, truth[truth["split"] == "train"], age_edges=edges)
    if "noise" in truth and truth["noise"].isin(["duplicate_person", "outlier_image", "low_quality"]).any():
        threshold = params["noise"].get("types", {}).get("threshold", 0.5)
        metrics["noise"].update(score_types(issues, truth, threshold=threshold))
    write_json(metrics["noise"], "reports/noise/scores.json")  # every count behind the headline figures
    metrics["noise"] = headline(metrics["noise"])
write_json(metrics, "reports/metrics.json", sort_keys=False)  # reading order: what a user looks at first
print("evaluate: " + ", ".join(f"{k}={v}" for k, v in metrics.items() if not isinstance(v, dict)))
if "truth" in metrics:
    noise = metrics["noise"]
    flags = "; ".join(f"{k} {v['precision']:.2f}/{v['recall']:.2f}/{v['ap']:.2f}"
                      for k, v in noise.items() if isinstance(v, dict))
    print(f"evaluate: truth.f1_macro={metrics['truth']['f1_macro']}; flags vs truth (P/R/AP): "
          f"all {noise['precision']:.2f}/{noise['recall']:.2f}/{noise['ap']:.2f}; {flags}")
