"""`python -m autograder VERB` (or `gradcam-autograder VERB`): the course's build and grading commands.

  build [LESSON ...]           regenerate course/ and the reference modules from solutions/lessons/
  release [DIR] [--lessons 01,02]
                               write the student bundle (default: release/, every lesson)
  check NOTEBOOK               a student's self-check: run the visible tests, print a table
  samples [DIR]                sample submissions to try grading on (default: samples/)
  grade SUBMISSIONS_DIR        autograde DIR/<student>/<lesson>/<lesson>.ipynb into the gradebook
                               on Dask (an embedded cluster, or --scheduler tcp://HOST:PORT);
                               skips what is graded and unchanged (--force grades it again),
                               then exports the grades as `export` does
  feedback                     per-student HTML feedback (no hidden test code)
  export                       grades.csv and exercises.csv from the gradebook

Each verb is one function below; VERBS maps the name to it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.execution import CELL_TIMEOUT_S
from autograder.grading import DEFAULT_WORKDIR


def build(args) -> int:
    from autograder.build import build as build_lessons

    build_lessons(args.lessons or None)
    return 0


def release(args) -> int:
    from autograder.release import DEFAULT_TARGET, write_release

    target = args.dir or DEFAULT_TARGET
    files = write_release(target, args.lessons)
    print(f"wrote the student bundle: {len(files)} files in {target} "
          "(scanned: no solutions, hidden tests or reference code)")
    return 0


def check(args) -> int:
    from autograder.selfcheck import check as self_check

    return self_check(args.notebook)


def samples(args) -> int:
    from autograder.samples import write_all_samples

    count = write_all_samples(args.dir, adversarial=args.adversarial)
    print(f"wrote {count} sample submissions under {args.dir}; grade them with: "
          f"python -m autograder grade {args.dir}")
    return 0


def _db_url(args) -> str:
    from autograder.database import default_db_url

    return args.db or default_db_url(args.workdir)


def grade(args) -> int:
    from autograder import grading

    scores = grading.grade(args.submissions, args.workdir, _db_url(args), workers=args.workers,
                           force=args.force, timeout=args.timeout, scheduler=args.scheduler)
    print(grading.summary_table(scores))
    print(f"report (ungraded, broken and flagged cells): {args.workdir / grading.REPORT}")
    return export(args)  # an instructor grading a class wants the CSVs too


def export(args) -> int:
    from autograder import grading

    grades, exercises = grading.export(_db_url(args), args.workdir)
    from autograder.database import shown

    print(f"grades: {grades}\nper exercise: {exercises}\ngradebook: {shown(_db_url(args))}")
    return 0


def feedback(args) -> int:
    from autograder import grading

    files = grading.feedback(args.workdir, _db_url(args))
    print(f"wrote {len(files)} feedback files under {args.workdir / 'feedback'}")
    return 0


VERBS = {"build": build, "release": release, "check": check, "samples": samples,
         "grade": grade, "feedback": feedback, "export": export}


def _gradebook_options(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                      help="nbgrader's course folder (default: autograder/)")
    verb.add_argument("--db", help="gradebook URL (default: sqlite:///WORKDIR/gradebook.db; "
                                   "PostgreSQL: postgresql+psycopg2://user@host:port/db)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verb = verbs.add_parser("build", help="regenerate course/ and the reference modules")
    verb.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    verb = verbs.add_parser("release", help="write the student bundle")
    verb.add_argument("dir", nargs="?", type=Path, help="target folder (default: release/)")
    verb.add_argument("--lessons", help="only these lessons, e.g. 01,02: the last is the one "
                                        "being opened, the others past their deadline "
                                        "(default: all)")
    verb = verbs.add_parser("check", help="run a notebook's visible tests and print a table")
    verb.add_argument("notebook", type=Path, help="a lesson's .ipynb or its paired .py")
    verb = verbs.add_parser("samples", help="write sample submissions to try grading on")
    verb.add_argument("dir", nargs="?", type=Path, default=Path("samples"),
                      help="target folder (default: samples/)")
    verb.add_argument("--adversarial", action="store_true",
                      help="also lesson 02 submissions broken or dishonest in known ways")
    verb = verbs.add_parser("grade", help="autograde a folder of submissions, then export")
    verb.add_argument("submissions", type=Path,
                      help="folder laid out as <student>/<lesson>/<lesson>.ipynb")
    verb.add_argument("--workers", type=int,
                      help="worker processes of the embedded Dask cluster (default: one per "
                           "core)")
    verb.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                      help="grade on this existing Dask cluster instead (`dask scheduler`, "
                           "then `dask worker tcp://HOST:PORT --nthreads 1` on each machine)")
    verb.add_argument("--force", action="store_true",
                      help="grade again what is graded and unchanged (default: skip it)")
    verb.add_argument("--timeout", type=int,
                      help="seconds per cell before it is stopped "
                           f"(default {CELL_TIMEOUT_S}, as the self-check and Validate)")
    _gradebook_options(verb)
    verb = verbs.add_parser("feedback", help="write HTML feedback for every graded submission")
    _gradebook_options(verb)
    verb = verbs.add_parser("export", help="write grades.csv and exercises.csv")
    _gradebook_options(verb)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return VERBS[args.verb](args)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
