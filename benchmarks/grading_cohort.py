"""A large class: a synthetic cohort of lesson-02 submissions, mixed correct, partial, broken and
dishonest (autograder/adversarial.py, in turn), graded serially and with parallel workers, on a
sqlite gradebook and on a PostgreSQL one, side by side; every score is checked against the
expected one.

    python benchmarks/grading_cohort.py [--cohort 100] [--workers 2] [--timeout 30] [--no-postgres]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from autograder.adversarial import CASES, LESSON, write_case
from autograder.grading import grade

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pg_server import PostgresUnavailable, running_server  # noqa: E402


def run(label: str, cohort: Path, workdir: Path, db_url: str | None, workers: int,
        timeout: int, expected: dict) -> float:
    start = time.perf_counter()
    scores = grade(cohort, workdir, db_url=db_url, workers=workers, timeout=timeout,
                   log=lambda line: None)
    seconds = time.perf_counter() - start
    wrong = [s for s, points in expected.items()
             if scores.get(s, {}).get(LESSON, {}).get("score", 0) != points]
    print(f"{label:<10} {workers} worker(s): {seconds:6.0f} s, "
          f"{len(expected) / seconds * 60:5.1f} submissions per minute; "
          f"every score as expected: {not wrong} {wrong[:5] or ''}", flush=True)
    return seconds


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database on the server (each run starts from an empty gradebook)."""
    from sqlalchemy import create_engine, text

    with create_engine(server_url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=30, help="seconds per cell")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.cohort} submissions of {LESSON}, "
          f"{len(CASES)} kinds in turn; per-cell limit {args.timeout} s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        expected = {}
        for i in range(args.cohort):
            case = list(CASES)[i % len(CASES)]
            write_case(scratch / "cohort", case, f"s{i:03d}-{case}")
            expected[f"s{i:03d}-{case}"] = CASES[case][1]
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
                print(f"{db}: parallel speed-up {times[db, 1] / times[db, args.workers]:.2f}x")


if __name__ == "__main__":
    main()
