"""How fast does grading go? One complete submission of every lesson (with fresh kernels, then
with the default forked ones: autograder/kernel_forks.py), then a cohort of 30
lesson-01 submissions (complete, partial and untouched in turn) graded on a Dask cluster of one
worker and on the default LocalCluster (one worker per core), side by side, with every score
checked against the expected one.

    python benchmarks/grading_throughput.py [--cohort 30] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.build import lesson_sources
from autograder.grading import grade
from autograder.ledger import Ledger
from autograder.samples import exercise_ids, make_submission

KINDS = {"complete": 12, "partial": 5, "untouched": 0}  # lesson 01's points for each kind


def write(folder: Path, student: str, lesson: str, answered) -> None:
    target = folder / student / lesson
    target.mkdir(parents=True)
    nbformat.write(make_submission(lesson, answered), target / f"{lesson}.ipynb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", type=int, default=30)
    parser.add_argument("--workers", type=int, default=None,
                        help="workers of the parallel run (default: one per core)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; nbgrader autograde with fast-mode lessons and a sqlite gradebook")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        lessons = [source.stem for source in lesson_sources()]
        for lesson in lessons:
            write(scratch / "one", "ada", lesson, "all")
        for kernels, forks in (("fresh kernels", "0"), ("forked kernels (default)", "1")):
            # the workers of each run's new cluster read the switch as they start
            os.environ["AUTOGRADER_KERNEL_FORKS"] = forks
            start = time.perf_counter()
            scores = grade(scratch / "one", scratch / f"one-work-{forks}", log=print)
            seconds = time.perf_counter() - start
            full = all(r["score"] == r["max_score"] for r in scores["ada"].values())
            ledger = Ledger(scratch / f"one-work-{forks}")
            print(f"one complete submission, {len(lessons)} lessons, {kernels}: {seconds:.1f} s "
                  f"(full marks: {full}); seconds on its worker, kernel start included: " +
                  ", ".join(f"{lesson[:2]} {ledger.get('ada', lesson)['seconds']}"
                            for lesson in lessons))
        os.environ.pop("AUTOGRADER_KERNEL_FORKS")

        lesson = "01_finetune_resnet"
        half = exercise_ids(lesson)[: len(exercise_ids(lesson)) // 2]
        answers = {"complete": "all", "partial": half, "untouched": []}
        expected = {}
        for i in range(args.cohort):
            kind = list(KINDS)[i % 3]
            student = f"s{i:02d}-{kind}"
            write(scratch / "cohort", student, lesson, answers[kind])
            expected[student] = KINDS[kind]
        timings = {}
        for workers in (1, args.workers):
            start = time.perf_counter()
            scores = grade(scratch / "cohort", scratch / f"work-{workers}", workers=workers, log=print)
            timings[workers] = time.perf_counter() - start
            wrong = [s for s, points in expected.items() if scores[s][lesson]["score"] != points]
            print(f"{args.cohort} submissions, {workers or 'default'} worker(s): "
                  f"{timings[workers]:.0f} s, "
                  f"{args.cohort / timings[workers] * 60:.1f} per minute; "
                  f"scores as expected: {not wrong} {wrong or ''}")
        print(f"1 worker {timings[1]:.0f} s | {args.workers or 'default'} workers "
              f"{timings[args.workers]:.0f} s | speed-up {timings[1] / timings[args.workers]:.2f}x")


if __name__ == "__main__":
    main()
