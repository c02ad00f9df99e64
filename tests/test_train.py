import numpy as np
import pytest
import torch
from dvclive import Live

from pipeline import labels as L
from pipeline.curation.folds import person_folds
from pipeline.model.config import TrainConfig
from pipeline.model.oof import out_of_fold
from pipeline.model.train import epoch_batches, epoch_rows, fit, load_checkpoint, predict, predict_proba, save_checkpoint

torch.set_num_threads(1)

COLOURS = {0: (230, 30, 30), 1: (30, 30, 230), 9: (30, 230, 30), 17: (230, 230, 30)}


def _colour_crops(labels: np.ndarray, size: int = 32, seed: int = 0) -> np.ndarray:
    """Class -> flat colour plus noise: trivially separable."""
    rng = np.random.default_rng(seed)
    base = np.array([COLOURS[int(c)] for c in labels], dtype=np.int16)[:, None, None, :]
    noise = rng.integers(-25, 25, (len(labels), size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _cfg(**kw) -> TrainConfig:
    base = dict(model="test_efficientnet", img_size=32, epochs=2, batch_size=16, lr=0.01)
    return TrainConfig(**{**base, **kw})


def test_from_dict_rejects_unknown_keys_and_coerces_numbers():
    cfg = TrainConfig.from_dict({"model": "resnet18", "lr": "3e-3", "epochs": 2.0, "amp": "off"})
    assert cfg.lr == 0.003 and cfg.epochs == 2 and isinstance(cfg.epochs, int)
    with pytest.raises(ValueError, match="unknown train config keys \\['learning_rate'\\]"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig.from_dict({"schedule": "linear"})


def test_epoch_batches_sorted_and_weighted():
    rng = np.random.default_rng(0)
    idx = np.arange(100, 140)
    batches = epoch_batches(idx, None, 16, rng)
    assert [len(b) for b in batches] == [16, 16]  # partial last batch dropped
    assert all(np.all(np.diff(b) >= 0) for b in batches)
    w = np.where(idx < 110, 1.0, 0.0)
    drawn = np.concatenate(epoch_batches(idx, w, 16, rng))
    assert set(drawn) <= set(range(100, 110))


def test_a_budget_in_images_shortens_every_epoch_and_nothing_else():
    assert epoch_rows(1000, epochs=6, max_images=0, batch_size=64) == 1000       # no budget
    assert epoch_rows(1000, epochs=6, max_images=6000, batch_size=64) == 1000    # within it
    assert epoch_rows(10000, epochs=6, max_images=30000, batch_size=64) == 5000  # over it: each epoch half
    assert epoch_rows(10000, epochs=6, max_images=100, batch_size=64) == 64      # never below one batch
    idx = np.arange(100, 200)
    full = epoch_batches(idx, None, 16, np.random.default_rng(0))
    assert [b.tolist() for b in epoch_batches(idx, None, 16, np.random.default_rng(0), size=100)] == \
        [b.tolist() for b in full]  # all rows: the draw of no budget
    short = epoch_batches(idx, None, 16, np.random.default_rng(0), size=40)
    assert [len(b) for b in short] == [16, 16] and len(set(np.concatenate(short))) == 32
    w = np.ones(len(idx))
    assert sum(map(len, epoch_batches(idx, w, 16, np.random.default_rng(0), size=48))) == 48


@pytest.mark.parametrize("heads", ["joint", "multi"])
def test_same_seed_same_losses_other_seed_differs(heads):
    labels = np.tile([0, 1, 9, 17], 12)
    crops = _colour_crops(labels)
    idx = np.arange(len(labels))
    runs = [[h["train_loss"] for h in fit(crops, labels, idx, cfg=_cfg(heads=heads, seed=s), progress=False)[1]]
            for s in (0, 0, 1)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_loader_workers_and_no_flip_keep_the_loss_sequence():
    labels = np.tile([0, 1, 9, 17], 8)
    crops = _colour_crops(labels)
    idx = np.arange(len(labels))
    losses = [[h["train_loss"] for h in fit(crops, labels, idx, cfg=_cfg(num_workers=w, flip=False),
                                            progress=False)[1]] for w in (0, 1)]
    assert losses[0] == losses[1]


def test_fit_learns_colour_to_class_from_readonly_memmap(tmp_path):
    labels = np.tile([0, 1, 9, 17], 30)
    np.save(tmp_path / "crops.npy", _colour_crops(labels))
    crops = np.load(tmp_path / "crops.npy", mmap_mode="r")
    train, val = np.arange(80), np.arange(80, 120)
    live_dir = tmp_path / "live"
    cfg = _cfg(heads="multi", epochs=5, batch_size=8, lr=0.003, loss="ce+f1")
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None) as live:
        model, history = fit(crops, labels, train, val, cfg=cfg, live=live, progress=False)
    assert len(history) == 5
    assert {"train_loss", "val_loss", "val_f1_macro", "val_f1_mask", "val_f1_gender", "val_f1_age",
            "imgs_per_s"} <= set(history[0])
    probs = predict_proba(model, crops, val, batch_size=7)
    assert (probs.argmax(1) == labels[val]).mean() >= 0.9
    assert max(h["val_f1_macro"] for h in history) >= 0.9
    logged = (live_dir / "plots" / "metrics" / "val_f1_macro.tsv").read_text().strip().splitlines()
    assert len(logged) == 1 + 5  # header + one row per epoch


def test_fit_accepts_sample_and_class_weights():
    labels = np.tile([0, 1, 9, 17], 8)
    crops = _colour_crops(labels)
    _, history = fit(crops, labels, np.arange(32), cfg=_cfg(epochs=1, loss="focal", schedule="step", warmup=0.5),
                     sample_weight=np.linspace(0.1, 1, 32), class_weight=np.linspace(0.5, 2, 18),
                     progress=False)
    assert np.isfinite(history[0]["train_loss"])


def test_predict_order_tta_and_rows_sum_to_one():
    labels = np.tile([0, 1, 9, 17], 5)
    crops = _colour_crops(labels)
    model, _ = fit(crops, labels, np.arange(20), cfg=_cfg(epochs=1, heads="multi"), progress=False)
    idx = np.array([7, 2, 19, 2, 0, 11])
    out = predict(model, crops, idx, batch_size=4, tta_flip=True)
    assert out["probs"].shape == (6, 18) and out["gender"].shape == (6, 2)
    for p in out.values():
        np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    one_by_one = np.concatenate([predict(model, crops, [i], batch_size=1, tta_flip=True)["probs"] for i in idx])
    np.testing.assert_allclose(out["probs"], one_by_one, atol=1e-5)
    np.testing.assert_allclose(L.head_probs(out["probs"])["mask"], out["mask"], atol=1e-5)


def test_out_of_fold_predicts_each_row_with_a_model_blind_to_its_person():
    # the colour -> class mapping is inverted between the two folds: a model that never saw a
    # person's fold predicts the *other* mapping, so out-of-fold accuracy must be near zero
    persons = np.repeat(np.arange(16), 4)
    strat = persons % 2
    fold = person_folds(persons, strat, k=2, seed=3)
    colour = np.tile([0, 1], 32)  # 0 = red, 1 = blue
    labels = np.where(fold == 0, colour, 1 - colour)
    crops = _colour_crops(colour)
    cfg = _cfg(epochs=8, batch_size=8, lr=0.003)
    out = out_of_fold(crops, labels, persons, strat, k=2, cfg=cfg, seed=3, progress=False)
    assert np.array_equal(out["fold"], fold)
    assert out["probs"].shape == (64, 18) and out["age"].shape == (64, 3)
    np.testing.assert_allclose(out["probs"].sum(1), 1, atol=1e-5)
    assert (out["probs"].argmax(1) == labels).mean() <= 0.1


def test_checkpoint_round_trip(tmp_path):
    labels = np.tile([0, 1, 9, 17], 4)
    crops = _colour_crops(labels)
    cfg = _cfg(epochs=1, heads="multi", loss={"ce": 0.5, "f1": 0.5})
    model, _ = fit(crops, labels, np.arange(16), cfg=cfg, progress=False)
    path = tmp_path / "models" / "fold0.pt"
    save_checkpoint(model, cfg, path)
    loaded = load_checkpoint(path, device="cpu")
    assert loaded.heads == "multi" and loaded.img_size == 32
    idx = np.arange(16)
    np.testing.assert_allclose(predict_proba(loaded, crops, idx, batch_size=8),
                               predict_proba(model, crops, idx, batch_size=8), atol=1e-6)
