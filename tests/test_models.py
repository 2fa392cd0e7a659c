"""Tests for utils/models.py: building ResNet18 (random, ImageNet or "auto"), and the checkpoint
format: round trip, float16 storage, weights_only loading, and clear errors for bad files."""

import pytest
import torch
from torch import nn

from utils.models import REQUIRED_KEYS, build_resnet18, load_checkpoint, save_checkpoint

PLANT_NAMES = ["Rudo", "Baya", "Greg", "Yuki"]


@pytest.fixture(scope="module")
def model():
    """A random 4-class ResNet18 whose BatchNorm statistics are not the trivial 0/1."""
    torch.manual_seed(0)
    net = build_resnet18(pretrained=False)
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, 64, 64))  # updates running_mean / running_var
    return net.eval()


@pytest.fixture(scope="module")
def inputs():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "plant.pth"
    save_checkpoint(path, model, train_acc=0.9, val_acc=0.8, test_acc=0.75, epoch=3,
                    dataset_fingerprint="abc123")
    return path


@pytest.fixture
def hub_dir(tmp_path):
    """An empty torch hub folder, so no cached ImageNet weights are found; restored afterwards."""
    previous = torch.hub.get_dir()
    hub = tmp_path / "hub"
    torch.hub.set_dir(str(hub))
    yield hub
    torch.hub.set_dir(previous)


# --- building --------------------------------------------------------------------------------

def test_random_model(model):
    assert isinstance(model.fc, nn.Linear)
    assert (model.fc.in_features, model.fc.out_features) == (512, 4)
    assert model.init_weights == "random"
    other = build_resnet18(num_classes=7, pretrained=False)
    assert other.fc.out_features == 7 and other.init_weights == "random"


@pytest.mark.parametrize("bad", ["yes", "imagenet", 1.0, None, "True"])
def test_bad_pretrained_value(bad, hub_dir):
    with pytest.raises(ValueError, match="pretrained"):
        build_resnet18(pretrained=bad)


def test_pretrained_true(hub_dir):
    try:
        net = build_resnet18(pretrained=True)
    except RuntimeError as err:  # offline: the message says why and where the weights go
        message = str(err)
        assert "not available" in message
        assert str(hub_dir / "checkpoints") in message
        assert "resnet18-f37072fd.pth" in message
        assert err.__cause__ is not None  # the download error is chained
    else:  # online: the download worked
        assert net.init_weights == "imagenet"
        assert net.fc.out_features == 4
        assert (hub_dir / "checkpoints" / "resnet18-f37072fd.pth").is_file()


def test_pretrained_auto(hub_dir, capsys):
    net = build_resnet18(pretrained="auto")
    assert net.fc.out_features == 4
    err = capsys.readouterr().err
    if (hub_dir / "checkpoints" / "resnet18-f37072fd.pth").is_file():  # online
        assert net.init_weights == "imagenet"
    else:
        assert net.init_weights == "random"
        assert "not available" in err and str(hub_dir / "checkpoints") in err
        assert "random weights instead" in err


# --- checkpoints: round trip -----------------------------------------------------------------

def test_checkpoint_contents(saved, model):
    raw = torch.load(saved, weights_only=True)
    assert isinstance(raw, dict)
    assert set(REQUIRED_KEYS) <= set(raw)
    assert raw["class_names"] == PLANT_NAMES
    assert (raw["train_acc"], raw["val_acc"], raw["test_acc"], raw["epoch"]) == (0.9, 0.8, 0.75, 3)
    assert raw["image_size"] == 224
    assert raw["normalisation"] == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert raw["init_weights"] == "random"
    assert raw["dataset_fingerprint"] == "abc123"
    assert raw["weights_dtype"] == "float32"
    state = model.state_dict()
    assert raw["model_state_dict"].keys() == state.keys()
    assert all(torch.equal(raw["model_state_dict"][k], v) for k, v in state.items())
    assert [p.name for p in saved.parent.iterdir()] == ["plant.pth"]  # no .tmp left behind


def test_round_trip_float32(saved, model, inputs):
    loaded, checkpoint = load_checkpoint(saved)
    assert not loaded.training
    assert loaded.init_weights == "random"
    assert checkpoint["class_names"] == PLANT_NAMES
    with torch.no_grad():
        assert torch.equal(loaded(inputs), model(inputs))
    # loading into a given model fills that model
    target = build_resnet18(pretrained=False).train()
    same, _ = load_checkpoint(saved, model=target)
    assert same is target and not target.training


def test_round_trip_half(model, inputs, tmp_path):
    path = save_checkpoint(tmp_path / "sub" / "half.pth", model, train_acc=1, val_acc=1,
                           test_acc=1, epoch=1, half=True)
    assert sorted(p.name for p in path.parent.iterdir()) == ["half.pth"]
    raw = torch.load(path, weights_only=True)
    assert raw["weights_dtype"] == "float16"
    for key, value in raw["model_state_dict"].items():
        if key.endswith("num_batches_tracked"):
            assert value.dtype == torch.int64
        else:
            assert value.dtype == torch.float16, key
    loaded, _ = load_checkpoint(path)
    assert not loaded.training
    for key, value in loaded.state_dict().items():
        original = model.state_dict()[key]
        assert value.dtype == original.dtype, key  # converted back to float32 on loading
        if value.is_floating_point():
            assert torch.equal(value, original.half().float()), key
    with torch.no_grad():
        expected, got = model(inputs), loaded(inputs)
    assert not torch.equal(got, expected)  # it really was rounded ...
    assert torch.allclose(got, expected, rtol=1e-2, atol=1e-2 * expected.abs().max().item())


# --- checkpoints: errors ---------------------------------------------------------------------

def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pth")


def test_truncated_checkpoint(saved, tmp_path):
    path = tmp_path / "cut.pth"
    data = saved.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_random_bytes_checkpoint(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(torch.randint(0, 256, (5000,), dtype=torch.uint8,
                                   generator=torch.Generator().manual_seed(0)).numpy().tobytes())
    with pytest.raises(ValueError, match="not a readable checkpoint") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_non_dict_checkpoint(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="expected a dict") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "list" in str(err.value)


def test_checkpoint_missing_keys(tmp_path):
    path = tmp_path / "partial.pth"
    torch.save({"model_state_dict": {}, "class_names": PLANT_NAMES, "epoch": 1}, path)
    with pytest.raises(ValueError, match="missing train_acc, val_acc, test_acc;") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_class_names_do_not_fit_head(model, tmp_path):
    path = save_checkpoint(tmp_path / "three.pth", model, train_acc=0, val_acc=0, test_acc=0,
                           epoch=0, class_names=PLANT_NAMES[:3])
    with pytest.raises(ValueError, match="head has 4 outputs but class_names lists 3") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_model_with_other_head_size(saved):
    with pytest.raises(ValueError, match="4 classes .* 3 outputs") as err:
        load_checkpoint(saved, model=build_resnet18(num_classes=3, pretrained=False))
    assert str(saved) in str(err.value)


def test_weights_that_do_not_fit(model, tmp_path):
    """A head that matches but a body that does not (here: a missing layer) is a ValueError too."""
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("layer4.")}
    path = tmp_path / "body.pth"
    torch.save({"model_state_dict": state, "class_names": PLANT_NAMES, "train_acc": 0.0,
                "val_acc": 0.0, "test_acc": 0.0, "epoch": 0}, path)
    with pytest.raises(ValueError, match="weights do not fit the model") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


class _Payload:
    """Unpickling this would run code: it writes a marker file (if the loader were unsafe)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("content, refused", [
    (lambda marker: nn.Linear(2, 2), "torch.nn.modules.linear.Linear"),  # a whole pickled model
    (lambda marker: {"model_state_dict": {}, "hook": _Payload(marker)}, "io.open"),
], ids=["pickled-model", "code-running-pickle"])
def test_unsafe_checkpoint_is_refused_without_advice_to_load_it_unsafely(content, refused,
                                                                         tmp_path):
    path, marker = tmp_path / "downloaded.pth", tmp_path / "payload-ran"
    torch.save(content(marker), path)
    data = path.read_bytes()
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not a course checkpoint, and possibly unsafe")
    assert refused in message and "save_checkpoint" in message and "make checkpoints" in message
    assert "weights_only" not in message and "trust" not in message, message
    assert "\n" not in message and "\x1b" not in message  # one paragraph, no terminal codes
    assert not marker.exists(), "the pickle's code ran"
    assert path.read_bytes() == data


def test_damaged_checkpoint_message_has_no_torch_advice(saved, tmp_path):
    path = tmp_path / "cut.pth"
    path.write_bytes(saved.read_bytes()[:4000])
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "not a readable checkpoint" in message and "Is the file complete?" in message
    assert "weights_only" not in message and "high likelihood" not in message, message
