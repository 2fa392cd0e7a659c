"""Lesson 01 on a folder of "real photos" (PLANTS_DATA), run as the lab runs it: the kernel in
the notebook's folder, $PWD where the user started the command. The solution notebook is
executed in fast mode; the photos are copies of generated images, arranged as users arrange
theirs (macOS '._' files beside them, a class missing from the test split, a missing split)."""
import hashlib
import shutil
from pathlib import Path

import pytest

from autograder.build import lesson_sources, read_source
from autograder.execution import CELL_TIMEOUT_S, FAST_MODE_ENV, environment

LESSON = "01_finetune_resnet"
PER_SPLIT = {"train": 8, "val": 2, "test": 2}  # images per class


def photo_folder(root: Path, plants: Path, splits=("train", "val", "test"), skip_test=(3,)):
    for split in splits:
        (root / split).mkdir(parents=True)
        for label in range(4):
            if split == "test" and label in skip_test:
                continue
            for source in sorted((plants / split).glob(f"{label}_*.jpg"))[:PER_SPLIT[split]]:
                shutil.copy(source, root / split / source.name)
                # what macOS writes beside every file copied to a FAT or network disk
                (root / split / f"._{source.name}").write_bytes(b"\x00\x05\x16\x07\x00\x02")
    return root


def snapshot(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_lesson(tmp_path, plants_data: str, started_in: Path):
    """Execute the solution notebook with the kernel in a notebook folder of its own."""
    from nbclient import NotebookClient

    notebook_folder = tmp_path / "course" / LESSON
    notebook_folder.mkdir(parents=True)
    nb = read_source(next(s for s in lesson_sources() if s.stem == LESSON))
    with environment(PLANTS_DATA=plants_data, PWD=str(started_in), **FAST_MODE_ENV):
        NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(notebook_folder)}}).execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs)
    return errors, text


def test_relative_plants_data_appledouble_files_and_a_class_without_test_images(tmp_path,
                                                                                plants):
    photos = photo_folder(tmp_path / "me" / "photos", plants)
    before = snapshot(photos)
    errors, text = run_lesson(tmp_path, "photos", started_in=tmp_path / "me")
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    assert "32 training images" in text  # the '._' files are skipped, not read
    assert "Yuki: no test images, so no accuracy" in text and "Yuki: 0%" not in text
    for name in ("Rudo", "Baya", "Greg"):
        assert f"{name}: " in text and " of 2" in text
    assert snapshot(photos) == before


def test_a_data_error_is_repeated_by_later_cells_not_hidden_by_name_errors(tmp_path, plants):
    photos = photo_folder(tmp_path / "photos", plants, splits=("train", "test"))  # no val/
    before = snapshot(photos)
    errors, _ = run_lesson(tmp_path, str(photos), started_in=tmp_path)
    names = [e.ename for e in errors]
    assert names == ["MissingDataError", "EarlierDataError", "EarlierDataError"], names
    first, *later = errors
    assert str(photos / "val") in first.evalue and "no such split folder" in first.evalue
    for error in later:
        assert "the cell 'the splits' could not read" in error.evalue
        assert str(photos / "val") in error.evalue
    assert snapshot(photos) == before


@pytest.fixture(autouse=True)
def _no_pwd_leak(monkeypatch):
    """environment() restores PWD; this keeps a failing run from leaving it changed."""
    monkeypatch.setenv("PWD", str(Path.cwd()))
