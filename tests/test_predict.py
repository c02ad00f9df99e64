import numpy as np
import pandas as pd

from pipeline.model.predict import submission


def test_submission_keeps_info_order_and_fills_unreadable_images():
    info = pd.DataFrame({"ImageID": ["c.jpg", "a.jpg", "b.jpg"], "ans": 0})
    sub, missing = submission(info, ["a.jpg", "c.jpg"], np.array([5, 7]), fallback=3)
    assert sub.columns.tolist() == ["ImageID", "ans"]
    assert sub["ImageID"].tolist() == ["c.jpg", "a.jpg", "b.jpg"]
    assert sub["ans"].tolist() == [7, 5, 3] and missing == ["b.jpg"]


def test_soft_vote_averages_the_saved_fold_models(tmp_path):
    import torch

    from pipeline.model.predict import soft_vote
    from pipeline.model.train import TrainConfig, build_model, predict_proba, save_checkpoint

    torch.set_num_threads(1)
    crops = np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    paths, singles = [], []
    for seed in (0, 1):
        torch.manual_seed(seed)
        cfg = TrainConfig(model="test_resnet", img_size=32, seed=seed)
        model = build_model(cfg, pretrained=False)
        save_checkpoint(model, cfg, tmp_path / f"fold{seed}.pt")
        paths.append(tmp_path / f"fold{seed}.pt")
        singles.append(predict_proba(model, crops, np.arange(6)))
    voted = soft_vote(paths, crops, np.arange(6))
    np.testing.assert_allclose(voted, (singles[0] + singles[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(voted.sum(1), 1, atol=1e-5)


def test_predict_cli_writes_submission_in_info_order(tmp_path):
    import torch
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.model.train import TrainConfig, build_model, save_checkpoint

    torch.set_num_threads(1)
    manifest = pd.DataFrame({"image_id": ["p/mask1", "p/normal", "e1.jpg", "e2.jpg"],
                             "split": ["train", "train", "eval", "eval"],
                             "mask": [0, 2, -1, -1], "gender": [1, 1, -1, -1], "age": [20, 20, -1, -1]})
    manifest.to_parquet(tmp_path / "manifest.parquet")
    np.save(tmp_path / "crops.npy", np.zeros((4, 32, 32, 3), np.uint8))
    pd.DataFrame({"ImageID": ["e2.jpg", "gone.jpg", "e1.jpg"], "ans": 0}).to_csv(tmp_path / "info.csv", index=False)
    cfg = TrainConfig(model="test_resnet", img_size=32)
    save_checkpoint(build_model(cfg, pretrained=False), cfg, tmp_path / "models" / "fold0.pt")
    (tmp_path / "params.yaml").write_text("data: {root: x}\nrelabel: {age_edges: [30, 58]}\n")
    args = ["predict", "--info", str(tmp_path / "info.csv"), "--models", str(tmp_path / "models"),
            "--manifest", str(tmp_path / "manifest.parquet"), "--crops", str(tmp_path / "crops.npy"),
            "--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "sub.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    sub = pd.read_csv(tmp_path / "sub.csv")
    assert sub["ImageID"].tolist() == ["e2.jpg", "gone.jpg", "e1.jpg"] and sub["ans"].between(0, 17).all()
    assert "1 unreadable" in result.output and sub["ans"][1] in (3, 15)  # most common train class
    empty = CliRunner().invoke(app, [*args[:3], "--models", str(tmp_path), *args[5:]])
    assert empty.exit_code == 1 and "no trained models" in empty.output
