"""The explain CLI (solutions/tools/explain.py) with a real, small checkpoint and real JPEG files."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from solutions.tools.explain import main
from utils.datasets import CLASS_NAMES
from utils.models import SHIPPED_CHECKPOINT, build_resnet18, save_checkpoint

REPO = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-weights ResNet18 in the course's format, at image size 64 (fast on a CPU)."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    return save_checkpoint(path, build_resnet18(pretrained=False), image_size=64, train_acc=0.5,
                           val_acc=0.5, test_acc=0.5, epoch=1, half=True)


@pytest.fixture
def images(tmp_path):
    """Two 80x80 JPEG files of random colour noise."""
    rng = np.random.default_rng(0)
    paths = []
    for name in ("leaf", "pot"):
        path = tmp_path / f"{name}.jpg"
        Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def assert_png(path):
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000, "a figure with two images is more than a few bytes"
    with Image.open(path) as image:
        image.verify()


def explain(*args, checkpoint):
    return main([*map(str, args), "--checkpoint", str(checkpoint)])


def test_writes_one_png_per_image_into_the_default_folder(images, checkpoint, tmp_path,
                                                          monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert explain(*images, checkpoint=checkpoint) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for path, line in zip(images, lines):
        out_file = Path("explanations") / f"{path.stem}_gradcam_layer4.png"
        assert_png(tmp_path / out_file)
        assert str(path) in line and str(out_file) in line and "%" in line
        assert any(name in line for name in CLASS_NAMES), line


@pytest.mark.parametrize("target", ["Greg", "2"])
def test_target_by_name_or_index(images, checkpoint, tmp_path, target, capsys):
    out = tmp_path / "out"
    assert explain(images[0], "--target", target, "--out", out, checkpoint=checkpoint) == 0
    assert_png(out / "leaf_gradcam_layer4.png")


@pytest.mark.parametrize("method", ["guided-backprop", "guided-gradcam", "all"])
def test_every_method_and_all_side_by_side(method, images, checkpoint, tmp_path, capsys):
    assert explain(images[0], "--method", method, "--out", tmp_path, checkpoint=checkpoint) == 0
    out_file = tmp_path / f"{images[0].stem}_{method}_layer4.png"
    assert_png(out_file)
    with Image.open(out_file) as figure:  # 4 inches at 100 dpi for the image and each method
        assert figure.width == 400 * (1 + (3 if method == "all" else 1))
    assert str(out_file) in capsys.readouterr().out


def test_another_layer(images, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert explain(images[0], "--layer", "layer3", "--out", out, checkpoint=checkpoint) == 0
    assert_png(out / "leaf_gradcam_layer3.png")
    assert "leaf_gradcam_layer3.png" in capsys.readouterr().out


def corrupt_image(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return [path, "--out", tmp_path / "out"]


def corrupt_checkpoint(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"PK\x03\x04 half a checkpoint")
    return ["--checkpoint", path]


def out_is_a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    return ["--out", path]


@pytest.mark.parametrize("make_args, named", [
    (lambda tmp: [tmp / "missing.jpg"], "missing.jpg"),
    (corrupt_image, "broken.jpg"),
    (lambda tmp: ["--layer", "layer5"], "layer5"),
    (lambda tmp: ["--target", "Fern"], "Fern"),
    (lambda tmp: ["--target", "4"], "'4'"),
    (lambda tmp: ["--checkpoint", tmp / "nowhere.pth"], "nowhere.pth"),
    (corrupt_checkpoint, "broken.pth"),
    (out_is_a_file, "notes.txt"),
], ids=["missing-image", "corrupt-image", "unknown-layer", "unknown-target",
        "target-out-of-range", "missing-checkpoint", "corrupt-checkpoint", "out-is-a-file"])
def test_bad_input_exits_2_naming_it(make_args, named, images, checkpoint, tmp_path, capsys):
    args = [images[0], "--checkpoint", checkpoint, "--out", tmp_path / "out", *make_args(tmp_path)]
    assert main([str(a) for a in args]) == 2  # later options win over the defaults given first
    err = capsys.readouterr().err
    assert named in err and "error" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    if named != "notes.txt":
        assert not list((tmp_path / "out").glob("*.png")), "no output on bad input"


def test_unknown_layer_lists_the_choices(images, checkpoint, capsys):
    assert explain(images[0], "--layer", "fc", checkpoint=checkpoint) == 2
    err = capsys.readouterr().err
    for name in ("layer1", "layer2", "layer3", "layer4", "layer4.1.conv2"):
        assert name in err
    assert "layer4.1.relu" not in err, "block ReLUs run twice per pass: Grad-CAM cannot use them"


def test_unknown_method_is_rejected_by_argparse(images, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(images[0]), "--method", "lime"])
    assert exit_.value.code == 2 and "lime" in capsys.readouterr().err


def test_module_entry_point(images, checkpoint, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "solutions.tools.explain", str(images[1]), "--checkpoint",
         str(checkpoint), "--out", str(tmp_path / "cli"), "--layer", "layer4.1.conv2"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "pot_gradcam_layer4.1.conv2.png" in result.stdout
    assert_png(tmp_path / "cli" / "pot_gradcam_layer4.1.conv2.png")


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(),
                    reason=f"{SHIPPED_CHECKPOINT} is absent (`make checkpoints` makes it)")
def test_default_checkpoint_on_a_test_image(request, tmp_path, capsys):
    plants = request.getfixturevalue("plants")  # generated only when the test runs
    image = sorted((plants / "test").glob("2_*.jpg"))[0]
    assert main([str(image), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(image) in out and any(name in out for name in CLASS_NAMES)
    assert_png(tmp_path / f"{image.stem}_gradcam_layer4.png")


# --- output names never collide; existing figures are kept ----------------------------------

def noise_image(path, seed, size=(80, 80)):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def test_same_name_in_two_folders_gives_two_figures(checkpoint, tmp_path, capsys):
    first, second = noise_image(tmp_path / "a" / "photo.jpg", 1), noise_image(
        tmp_path / "b" / "photo.jpg", 2)
    out = tmp_path / "out"
    assert explain(first, second, "--out", out, checkpoint=checkpoint) == 0
    figures = [out / "a_photo_gradcam_layer4.png", out / "b_photo_gradcam_layer4.png"]
    for figure in figures:
        assert_png(figure)
    assert figures[0].read_bytes() != figures[1].read_bytes()
    lines = capsys.readouterr().out.strip().splitlines()
    assert [(str(first) in lines[0], str(figures[0]) in lines[0]),
            (str(second) in lines[1], str(figures[1]) in lines[1])] == [(True, True)] * 2
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name for f in figures)


@pytest.mark.parametrize("names, expected", [
    (["leaf.jpg", "pot.jpg"], ["leaf", "pot"]),
    (["a/photo.jpg", "b/photo.jpg"], ["a_photo", "b_photo"]),
    (["x/a/photo.jpg", "y/a/photo.jpg", "z/leaf.jpg"], ["x_a_photo", "y_a_photo", "leaf"]),
    (["photo.jpg", "photo.png"], ["photo_jpg", "photo_png"]),
    (["a/Photo.jpg", "b/photo.JPG"], ["a_Photo", "b_photo"]),  # one file on macOS/Windows disks
    (["photo.jpg", "photo.jpg"], ["photo", "photo-2"]),
    (["a/photo.jpg", "b/photo.jpg", "a_photo.jpg"], ["a_photo", "b_photo", "a_photo-2"]),
], ids=["distinct", "two-folders", "deeper", "two-extensions", "case-only", "same-file-twice",
        "made-name-exists"])
def test_figure_names_are_distinct(names, expected, tmp_path):
    from solutions.tools.explain import figure_stems
    stems = figure_stems([tmp_path / name for name in names])
    assert stems == expected
    assert len({s.casefold() for s in stems}) == len(stems)


def test_existing_figure_is_kept_and_nothing_is_written(images, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "leaf_gradcam_layer4.png"
    mine.write_bytes(b"my figure from yesterday")
    before = {p: p.read_bytes() for p in [mine, *images]}
    assert explain(*images, "--out", out, checkpoint=checkpoint) == 2
    err = capsys.readouterr().err
    assert str(mine) in err and "already exists" in err and "kept unchanged" in err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(out.iterdir()) == [mine], "nothing else written either"


def test_overwrite_replaces_and_says_so(images, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "leaf_gradcam_layer4.png").write_bytes(b"old")
    assert explain(images[0], "--out", out, "--overwrite", checkpoint=checkpoint) == 0
    assert_png(out / "leaf_gradcam_layer4.png")
    assert "replaced the earlier figure" in capsys.readouterr().out
