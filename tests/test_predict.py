import numpy as np
import pandas as pd

from pipeline.predict import submission


def test_submission_keeps_info_order_and_fills_unreadable_images():
    info = pd.DataFrame({"ImageID": ["c.jpg", "a.jpg", "b.jpg"], "ans": 0})
    sub, missing = submission(info, ["a.jpg", "c.jpg"], np.array([5, 7]), fallback=3)
    assert sub.columns.tolist() == ["ImageID", "ans"]
    assert sub["ImageID"].tolist() == ["c.jpg", "a.jpg", "b.jpg"]
    assert sub["ans"].tolist() == [7, 5, 3] and missing == ["b.jpg"]


def test_soft_vote_averages_the_saved_fold_models(tmp_path):
    import torch

    from pipeline.predict import soft_vote
    from pipeline.train import TrainConfig, build_model, predict_proba, save_checkpoint

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
