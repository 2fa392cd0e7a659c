"""Generate the plant dataset: ``python -m data.generate [--seed N] [--root DIR] [--force]``.

Writes, deterministically from the seed and with no downloads::

    data/plants/{train,val,test}/{label}_{uid}.jpg        800 / 200 / 80 images, balanced
    data/plants/masks/{train,val,test}/{label}_{uid}.png  ground truth: 255 on the labelled
                                                          plant's visible pixels
    data/plants/masks_other/{split}/{label}_{uid}.png     the second plant's (all 0 if none)
    data/plants/scenes.json                               per image: other_label, occluded,
                                                          cut_by_frame, dim_light (data/scenes.py)
    data/plants/manifest.json                             seed, counts, SHA-256 of every file
    data/plants/overview.png                              a contact sheet of images and masks

and then the shortcut variant ``data/plants_shortcut/`` (see data/shortcut.py).

A folder that was not made by this generator (no manifest: for example your own photos) is never
written to; ``--force`` only replaces a generated dataset.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from data import CLASS_NAMES, ensure
from data.scenes import render_scene

SPLIT_SIZES = {"train": 800, "val": 200, "test": 80}
IMAGE_SIZE = 224
DEFAULT_SEED = 2026
GENERATOR_VERSION = 2  # bump when a drawing change should invalidate generated datasets
DEFAULT_ROOT = Path(__file__).resolve().parent / "plants"
JPEG_QUALITY = 92


def file_stem(seed, split: str, index: int) -> str:
    """``{label}_{uid}``: label = index mod 4 (so every split is balanced), uid = 20 hex digits."""
    uid = hashlib.sha1(f"{seed}:{split}:{index}".encode()).hexdigest()[:20]
    return f"{index % len(CLASS_NAMES)}_{uid}"


def write_image(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return path


def write_mask(path: Path, mask: np.ndarray) -> Path:
    cv2.imwrite(str(path), mask, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def _render_one(job):
    root, seed, split, index = job
    split_id = list(SPLIT_SIZES).index(split)
    rng = np.random.default_rng([seed, split_id, index])
    stem = file_stem(seed, split, index)
    image, mask, other, facts = render_scene(rng, index % len(CLASS_NAMES), IMAGE_SIZE)
    root = Path(root)
    paths = [write_image(root / split / f"{stem}.jpg", image),
             write_mask(root / "masks" / split / f"{stem}.png", mask),
             write_mask(root / "masks_other" / split / f"{stem}.png", other)]
    return paths, f"{split}/{stem}.jpg", facts


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def prepare_folders(root: Path, splits, subfolders) -> None:
    """Empty (or make) ``root/split`` and ``root/<sub>/split``; refuses a folder it did not make."""
    _refuse_foreign_folder(root)
    for split in splits:
        for folder in [root / split] + [root / sub / split for sub in subfolders]:
            folder.mkdir(parents=True, exist_ok=True)
            for old in list(folder.glob("*.jpg")) + list(folder.glob("*.png")):
                old.unlink()  # only reached for a generated dataset: see _refuse_foreign_folder


def render_splits(render, root: Path, seed: int, split_sizes: dict, subfolders, workers: int,
                  progress: bool, what: str) -> tuple[list, list]:
    """Empty the split folders and ``render((root, seed, split, index))`` every image of every
    split; returns (the results in order, every path they wrote)."""
    prepare_folders(root, split_sizes, subfolders)
    jobs = [(str(root), seed, split, i) for split, n in split_sizes.items() for i in range(n)]
    results = run_jobs(render, jobs, workers, progress, what)
    return results, [path for paths, _, _ in results for path in paths]


def run_jobs(render, jobs, workers: int, progress: bool, what: str) -> list:
    """``render(job)`` for every job on ``workers`` processes, in order, with a progress line."""
    results = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(render, jobs, chunksize=16), start=1):
            results.append(result)
            if progress and (done % 120 == 0 or done == len(jobs)):
                print(f"\r  {what}: {done}/{len(jobs)} images", end="", file=sys.stderr,
                      flush=True)
    if progress:
        print(file=sys.stderr)
    return results


def write_json(path: Path, data) -> Path:
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return Path(path)


def write_manifest(root: Path, written, **facts) -> dict:
    """manifest.json: the SHA-256 of every written file, their fingerprint and ``facts``."""
    files = {p.relative_to(root).as_posix(): sha256(p) for p in sorted(written)}
    manifest = dict(facts, files=files, fingerprint=hashlib.sha256(
        json.dumps(files, sort_keys=True).encode()).hexdigest())
    write_json(root / "manifest.json", manifest)
    return manifest


def generate(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED, split_sizes=None,
             workers: int = 2, overview: bool = True, progress: bool = True) -> dict:
    """Write the dataset under ``root`` and return its manifest (see the module docstring)."""
    root = Path(root)
    split_sizes = dict(split_sizes or SPLIT_SIZES)
    results, written = render_splits(_render_one, root, seed, split_sizes,
                                     ("masks", "masks_other"), workers, progress, "plants")
    written.append(write_json(root / "scenes.json", {key: facts for _, key, facts in results}))
    manifest = write_manifest(root, written, generator_version=GENERATOR_VERSION, seed=seed,
                              image_size=IMAGE_SIZE, class_names=list(CLASS_NAMES),
                              split_sizes=split_sizes)
    if overview:
        from data.overview import save_overview
        save_overview(root, root / "overview.png")
    return manifest


def _refuse_foreign_folder(root: Path) -> None:
    has_images = root.exists() and any(root.glob("*/*.jpg"))
    if has_images and not (root / "manifest.json").exists():
        raise FileExistsError(
            f"{root} holds images that this generator did not make (there is no manifest.json). "
            "They are left untouched. Generate into another folder with --root, or move them.")


def verify(root: Path = DEFAULT_ROOT) -> list[str]:
    """Files that are missing or differ from the manifest (an empty list means the data is intact)."""
    root = Path(root)
    manifest = json.loads((root / "manifest.json").read_text())
    problems = []
    for rel, digest in manifest["files"].items():
        path = root / rel
        if not path.exists():
            problems.append(f"missing: {rel}")
        elif sha256(path) != digest:
            problems.append(f"changed: {rel}")
    return problems


def is_complete(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED,
                version=GENERATOR_VERSION, split_sizes=None) -> bool:
    """True when ``root`` holds a full generated dataset for this seed and generator version."""
    split_sizes = split_sizes or SPLIT_SIZES
    try:
        manifest = json.loads((Path(root) / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if (manifest.get("seed"), manifest.get("generator_version"), manifest.get("split_sizes")) != (
            seed, version, split_sizes):
        return False
    # counting is cheap; full checksums are for `--verify` and the tests
    return all(len(list((Path(root) / s).glob("*.jpg"))) == n for s, n in split_sizes.items())


def ensure_dataset(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED) -> Path:
    """Generate the dataset unless a complete one is already there; return its folder."""
    return ensure(root, seed, is_complete, generate,
                  f"Generating the plant dataset into {root} (about 20 s, once) ...")


def main(argv=None) -> int:
    from data import shortcut

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="output folder")
    parser.add_argument("--shortcut-root", type=Path, default=shortcut.DEFAULT_ROOT,
                        help="output folder of the shortcut variant")
    parser.add_argument("--no-shortcut", action="store_true", help="skip the shortcut variant")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--force", action="store_true", help="regenerate even if complete")
    parser.add_argument("--verify", action="store_true", help="check files against the manifest")
    args = parser.parse_args(argv)
    if args.verify:
        problems = verify(args.root)
        print("\n".join(problems) or f"{args.root}: every file matches manifest.json")
        return 1 if problems else 0
    jobs = [("plant dataset", generate, args.root, is_complete(args.root, args.seed))]
    if not args.no_shortcut:
        jobs.append(("shortcut variant", shortcut.generate, args.shortcut_root,
                     shortcut.is_complete(args.shortcut_root, args.seed)))
    for what, make, root, complete in jobs:
        if complete and not args.force:
            print(f"{root} is complete (seed {args.seed}); use --force to regenerate.")
            continue
        start = time.perf_counter()
        try:
            manifest = make(root, args.seed)
        except FileExistsError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"Wrote the {what}, {sum(manifest['split_sizes'].values())} images with masks, to "
              f"{root} in {time.perf_counter() - start:.1f} s "
              f"(fingerprint {manifest['fingerprint'][:12]}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
