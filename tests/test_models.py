import numpy as np
import pytest
import timm
import torch

from pipeline import labels as L
from pipeline.models import create_model, make_loss, parse_loss, to_probs

torch.set_num_threads(1)


@pytest.mark.parametrize("heads,width", [("joint", 18), ("multi", 8)])
def test_output_shapes_and_probabilities(heads, width):
    torch.manual_seed(0)
    model = create_model("test_efficientnet", heads=heads, img_size=32).eval()
    with torch.no_grad():
        logits = model(torch.rand(5, 3, 40, 40))  # resized to img_size inside
    assert logits.shape == (5, width)
    out = to_probs(logits, heads)
    assert {k: v.shape for k, v in out.items()} == {"probs": (5, 18), "mask": (5, 3), "gender": (5, 2), "age": (5, 3)}
    for p in out.values():
        np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    marginals = L.head_probs(out["probs"])
    for head in L.HEADS:
        np.testing.assert_allclose(marginals[head], out[head], atol=1e-5)


def test_multi_probs_follow_each_head():
    logits = torch.full((1, 8), -20.0)
    logits[0, [2, 3 + 1, 5 + 0]] = 20.0  # mask normal, gender female, age young
    assert to_probs(logits, "multi")["probs"].argmax() == L.encode(2, 1, 0)


LOSSES = ["ce", "focal", "f1", "ce+f1", {"ce": 0.5, "f1": 0.5}, "0.7*ce+0.3*focal"]


@pytest.mark.parametrize("heads", ["joint", "multi"])
@pytest.mark.parametrize("spec", LOSSES, ids=str)
@pytest.mark.parametrize("extra", [{}, {"label_smoothing": 0.1}, {"class_weight": np.linspace(0.5, 2, 18)}],
                         ids=["plain", "smooth", "weighted"])
def test_loss_is_finite_and_decreases_on_learnable_toy(heads, spec, extra):
    torch.manual_seed(0)
    y = torch.arange(36) % 18
    x = torch.nn.functional.one_hot(y, 18).float()
    head = torch.nn.Linear(18, 18 if heads == "joint" else 8)
    loss_fn = make_loss(spec, heads=heads, **extra)
    opt = torch.optim.Adam(head.parameters(), lr=0.1)
    losses = []
    for _ in range(40):
        loss = loss_fn(head(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0]


def test_weighted_ce_matches_torch_class_weights():
    torch.manual_seed(0)
    logits, y = torch.randn(20, 18), torch.randint(0, 18, (20,))
    w = torch.rand(18) + 0.1
    ours = make_loss("ce", class_weight=w.numpy())(logits, y)
    torch.testing.assert_close(ours, torch.nn.functional.cross_entropy(logits, y, weight=w))


def test_multi_loss_sums_heads():
    torch.manual_seed(0)
    logits, y = torch.randn(10, 8), torch.randint(0, 18, (10,))
    m, g, a = L.decode(y.numpy())
    ce = torch.nn.functional.cross_entropy
    expected = (ce(logits[:, :3], torch.as_tensor(m)) + ce(logits[:, 3:5], torch.as_tensor(g))
                + ce(logits[:, 5:], torch.as_tensor(a)))
    torch.testing.assert_close(make_loss("ce", heads="multi")(logits, y), expected)


def test_parse_loss():
    assert parse_loss("ce+f1") == {"ce": 1.0, "f1": 1.0}
    assert parse_loss("0.7*ce + 0.3*f1") == {"ce": 0.7, "f1": 0.3}
    with pytest.raises(ValueError, match="unknown loss"):
        parse_loss("ce+dice")


def test_pretrained_file_loads_saved_weights(tmp_path):
    torch.manual_seed(123)
    source = timm.create_model("test_resnet")  # 1000 classes, like a real ImageNet checkpoint
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    torch.manual_seed(0)
    model = create_model("test_resnet", heads="multi", pretrained_file=str(path))
    torch.manual_seed(0)
    fresh = create_model("test_resnet", heads="multi")
    loaded, init, saved = model.net.state_dict(), fresh.net.state_dict(), source.state_dict()
    conv = "conv1.0.weight"
    assert torch.equal(loaded[conv], saved[conv]) and not torch.equal(init[conv], saved[conv])
    for k, v in loaded.items():
        if not k.startswith("fc."):
            assert torch.equal(v, saved[k]), k
    assert loaded["fc.weight"].shape[0] == 8


def test_pretrained_file_not_covering_the_backbone_is_rejected(tmp_path):
    # timm loads non-strictly once the classifier is adapted: unrelated keys would load nothing
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="other.pth: 1 tensors, the model has"):
        create_model("test_resnet", pretrained_file=str(path))
