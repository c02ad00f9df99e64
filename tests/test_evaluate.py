import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.model.evaluate import classification_metrics, confusion_table, per_class_f1, plot_confusion


def test_metrics_keys_and_perfect_score():
    y = np.arange(18).repeat(3)
    m = classification_metrics(y, y)
    assert set(m) == {"f1_macro", "accuracy", "f1_mask", "f1_gender", "f1_age"}
    assert all(v == 1.0 for v in m.values())


def test_head_f1_sees_only_its_head():
    y = np.array([L.encode(0, 0, 0), L.encode(1, 1, 1), L.encode(2, 0, 2)] * 4)
    wrong_gender = L.encode(*[np.asarray(h) for h in (L.decode(y)[0], 1 - L.decode(y)[1], L.decode(y)[2])])
    m = classification_metrics(y, wrong_gender)
    assert m["f1_mask"] == 1.0 and m["f1_age"] == 1.0
    assert m["f1_gender"] == 0.0 and m["accuracy"] == 0.0


def test_tables_and_plot(tmp_path):
    y = np.array([0, 1, 2, 17, 17])
    p = np.array([0, 1, 1, 17, 16])
    table = per_class_f1(y, p, age_edges=(30, 58))
    assert len(table) == 18 and table.loc[0, "f1"] == 1.0 and table.loc[2, "f1"] == 0.0
    cm = confusion_table(y, p, age_edges=(30, 58))
    assert list(cm.columns) == ["actual", "predicted"] and cm.iloc[4].tolist() == [
        "normal/female/>=58", "normal/female/30-57"]
    plot_confusion(y, p, tmp_path / "cm.png", age_edges=(30, 58))
    assert (tmp_path / "cm.png").stat().st_size > 10_000


def test_training_curves_png_from_dvclive_tsvs(tmp_path):
    from pipeline.model.evaluate import plot_training_curves

    metrics = tmp_path / "fold0" / "plots" / "metrics"
    metrics.mkdir(parents=True)
    for name in ("train_loss", "val_loss", "val_f1_macro"):
        pd.DataFrame({"step": [0, 1, 2], name: [0.9, 0.5, 0.4]}).to_csv(metrics / f"{name}.tsv", sep="\t",
                                                                         index=False)
    plot_training_curves(tmp_path, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
