"""A large class: a synthetic cohort of lesson-02 submissions graded on a Dask cluster of one
worker and on the default LocalCluster (one worker per core, each kernel limited to its share of
the cores), on a sqlite gradebook and on a PostgreSQL one, side by side; every score is checked
against the expected one. In every ten students, five are complete, two partial (1 to 5 of the 6
exercises) and three broken or dishonest (every kind in autograder/adversarial.py in turn).

    python benchmarks/grading_cohort.py [--cohort 100] [--workers N] [--timeout 30] [--no-postgres]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from autograder.adversarial import CASES, LESSON, partial, write_submission
from autograder.grading import grade

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pg_server import PostgresUnavailable, running_server  # noqa: E402


def run(label: str, cohort: Path, workdir: Path, db_url: str | None, workers: int | None,
        timeout: int, expected: dict) -> float:
    start = time.perf_counter()
    scores = grade(cohort, workdir, db_url=db_url, workers=workers, timeout=timeout,
                   log=lambda line: None)
    seconds = time.perf_counter() - start
    wrong = [s for s, points in expected.items()
             if scores.get(s, {}).get(LESSON, {}).get("score", 0) != points]
    print(f"{label:<10} {workers or 'default'} worker(s): {seconds:6.0f} s, "
          f"{len(expected) / seconds * 60:5.1f} submissions per minute; "
          f"every score as expected: {not wrong} {wrong[:5] or ''}", flush=True)
    return seconds


def cohort(size: int) -> dict[str, tuple]:
    """{student: (notebook or stand-in, expected score, kind)}; kind: "complete", "partial" or
    the broken or dishonest kind's name."""
    kinds = [kind for kind in CASES if kind not in ("complete", "partial")]
    students, bad, half = {}, 0, 0
    for i in range(size):
        if i % 10 < 3:
            kind, bad = kinds[bad % len(kinds)], bad + 1
            students[f"s{i:03d}-{kind}"] = (*CASES[kind][:2], kind)
        elif i % 10 < 5:
            answered, half = half % 5 + 1, half + 1
            students[f"s{i:03d}-partial-{answered}"] = (*partial(answered), "partial")
        else:
            students[f"s{i:03d}-complete"] = (*CASES["complete"][:2], "complete")
    return students


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database on the server (each run starts from an empty gradebook)."""
    from sqlalchemy import create_engine, text

    with create_engine(server_url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None,
                        help="workers of the parallel run (default: one per core)")
    parser.add_argument("--timeout", type=int, default=30, help="seconds per cell")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    students = cohort(args.cohort)
    kinds = Counter(kind for _, _, kind in students.values())
    honest = kinds.pop("complete", 0), kinds.pop("partial", 0)
    print(f"{os.cpu_count()} CPUs; {args.cohort} submissions of {LESSON}: "
          f"{honest[0]} complete, {honest[1]} partial, {sum(kinds.values())} broken or dishonest "
          f"({len(kinds)} kinds); per-cell limit {args.timeout} s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        expected = {}
        for student, (content, score, _) in students.items():
            write_submission(scratch / "cohort", student, content)
            expected[student] = score
        times = {}
        for workers in (1, args.workers):
            times["sqlite", workers] = run("sqlite", scratch / "cohort",
                                           scratch / f"sqlite-{workers}", None, workers,
                                           args.timeout, expected)
        if not args.no_postgres:
            try:
                with running_server() as server:
                    for workers in (1, args.workers):
                        url = fresh_database(server, f"gradebook_{workers}")
                        times["postgres", workers] = run("postgres", scratch / "cohort",
                                                         scratch / f"pg-{workers}", url, workers,
                                                         args.timeout, expected)
            except PostgresUnavailable as why:
                print(f"postgres skipped: {why}")
        for db in ("sqlite", "postgres"):
            if (db, args.workers) in times:
                print(f"{db}: 1 worker {times[db, 1]:.0f} s, {args.workers or 'default'} "
                      f"workers {times[db, args.workers]:.0f} s: speed-up "
                      f"{times[db, 1] / times[db, args.workers]:.2f}x")


if __name__ == "__main__":
    main()
