"""Generate the plant dataset: ``python -m data.generate [--seed N] [--root DIR] [--force]``.

Writes, deterministically from the seed and with no downloads::

    data/plants/{train,val,test}/{label}_{uid}.jpg        800 / 200 / 80 images, balanced
    data/plants/masks/{train,val,test}/{label}_{uid}.png  ground truth: 255 on plant pixels
    data/plants/manifest.json                             seed, counts, SHA-256 of every file
    data/plants/overview.png                              a contact sheet of images and masks

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

from data import CLASS_NAMES
from data.plants_drawing import render_sample

SPLIT_SIZES = {"train": 800, "val": 200, "test": 80}
IMAGE_SIZE = 224
DEFAULT_SEED = 2026
GENERATOR_VERSION = 1  # bump when a drawing change should invalidate generated datasets
DEFAULT_ROOT = Path(__file__).resolve().parent / "plants"
JPEG_QUALITY = 92


def file_stem(seed: int, split: str, index: int) -> str:
    """``{label}_{uid}``: label = index mod 4 (so every split is balanced), uid = 20 hex digits."""
    uid = hashlib.sha1(f"{seed}:{split}:{index}".encode()).hexdigest()[:20]
    return f"{index % len(CLASS_NAMES)}_{uid}"


def _render_one(job):
    root, seed, split, index = job
    split_id = list(SPLIT_SIZES).index(split)
    rng = np.random.default_rng([seed, split_id, index])
    stem = file_stem(seed, split, index)
    image, mask = render_sample(rng, index % len(CLASS_NAMES), IMAGE_SIZE)
    image_path = Path(root) / split / f"{stem}.jpg"
    mask_path = Path(root) / "masks" / split / f"{stem}.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    cv2.imwrite(str(mask_path), mask, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return [image_path, mask_path]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def generate(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED, split_sizes=None,
             workers: int = 2, overview: bool = True, progress: bool = True) -> dict:
    """Write the dataset under ``root`` and return its manifest (see the module docstring)."""
    root = Path(root)
    split_sizes = dict(split_sizes or SPLIT_SIZES)
    _refuse_foreign_folder(root)
    for split in split_sizes:
        for folder in (root / split, root / "masks" / split):
            folder.mkdir(parents=True, exist_ok=True)
            for old in list(folder.glob("*.jpg")) + list(folder.glob("*.png")):
                old.unlink()  # only reached for a generated dataset: see _refuse_foreign_folder
    jobs = [(str(root), seed, split, i) for split, n in split_sizes.items() for i in range(n)]
    written = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, paths in enumerate(pool.map(_render_one, jobs, chunksize=16), start=1):
            written.extend(paths)
            if progress and (done % 120 == 0 or done == len(jobs)):
                print(f"\r  plants: {done}/{len(jobs)} images", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    files = {p.relative_to(root).as_posix(): sha256(p) for p in sorted(written)}
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "image_size": IMAGE_SIZE,
        "class_names": list(CLASS_NAMES),
        "split_sizes": split_sizes,
        "fingerprint": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest(),
        "files": files,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
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


def is_complete(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED) -> bool:
    """True when ``root`` holds a full generated dataset for this seed and generator version."""
    try:
        manifest = json.loads((Path(root) / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if (manifest.get("seed"), manifest.get("generator_version"), manifest.get("split_sizes")) != (
            seed, GENERATOR_VERSION, SPLIT_SIZES):
        return False
    # counting is cheap; full checksums are for `--verify` and the tests
    return all(len(list((Path(root) / s).glob("*.jpg"))) == n for s, n in SPLIT_SIZES.items())


def ensure_dataset(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED) -> Path:
    """Generate the dataset unless a complete one is already there; return its folder."""
    root = Path(root)
    if not is_complete(root, seed):
        print(f"Generating the plant dataset into {root} (about 20 s, once) ...", file=sys.stderr)
        generate(root, seed)
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="output folder")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--force", action="store_true", help="regenerate even if complete")
    parser.add_argument("--verify", action="store_true", help="check files against the manifest")
    args = parser.parse_args(argv)
    if args.verify:
        problems = verify(args.root)
        print("\n".join(problems) or f"{args.root}: every file matches manifest.json")
        return 1 if problems else 0
    if not args.force and is_complete(args.root, args.seed):
        print(f"{args.root} is complete (seed {args.seed}); use --force to regenerate.")
        return 0
    start = time.perf_counter()
    try:
        manifest = generate(args.root, args.seed)
    except FileExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote {len(manifest['files']) // 2} images and masks to {args.root} "
          f"in {time.perf_counter() - start:.1f} s (fingerprint {manifest['fingerprint'][:12]}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
