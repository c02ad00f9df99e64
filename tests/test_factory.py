import numpy as np
import pytest
import timm
import torch

from pipeline import labels as L
from pipeline.model.factory import create_model, make_loss, parse_loss, to_probs

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


def test_age_output_learns_years_and_adds_its_loss():
    from pipeline.model.factory import AGE_MEAN, AGE_SCALE, num_outputs

    assert num_outputs("multi", age_years=True) == num_outputs("multi") + 1
    y = torch.tensor([0, 5])
    years = torch.tensor([20.0, 50.0])
    logits = torch.zeros(2, num_outputs("multi", age_years=True))
    plain = make_loss("ce", heads="multi")(logits[:, :-1], y)
    with_age = make_loss("ce", heads="multi", age_weight=2.0)
    logits[:, -1] = (years - AGE_MEAN) / AGE_SCALE  # the exact ages: no extra loss
    assert torch.isclose(with_age(logits, (y, years)), plain)
    logits[:, -1] += 1.0  # 21 years off each: smooth-L1 (beta 0.1) = 1 - 0.05 per sample, times 2
    assert torch.isclose(with_age(logits, (y, years)), plain + 2 * 0.95)
    probs = to_probs(logits, "multi", with_years=True)
    assert np.allclose(probs["age_years"], years.numpy() + AGE_SCALE)


def test_age_density_weights_favour_rare_ages():
    from pipeline.model.factory import age_density_weights

    ages = np.array([20] * 50 + [22] * 50 + [40] * 5 + [55] * 50)
    w = age_density_weights(ages, power=1.0)
    assert w[40] > 5 * w[20] and w[40] > 5 * w[55]
    assert np.isclose(w[ages].mean(), 1.0)  # the training ages' mean weight stays 1
    assert np.allclose(age_density_weights(ages, power=0.0)[ages], 1.0)
    half = age_density_weights(ages, power=0.5)
    assert 1 < half[40] / half[20] < w[40] / w[20]


def test_age_year_weight_scales_each_sample():
    from pipeline.model.factory import num_outputs

    y, years = torch.tensor([0, 0]), torch.tensor([20.0, 40.0])
    logits = torch.zeros(2, num_outputs("multi", age_years=True))
    logits[:, -1] = 5.0  # both far off: smooth-L1 is |error| - 0.05 each
    weight = np.ones(121)
    weight[40] = 3.0
    base = make_loss("ce", heads="multi", age_weight=1.0)(logits, (y, years))
    weighted = make_loss("ce", heads="multi", age_weight=1.0, age_year_weight=weight)(logits, (y, years))
    z = (years - 39.0) / 21.0
    err = (5.0 - z).abs() - 0.05
    assert torch.isclose(weighted - base, (2 * err[1]) / 2)
