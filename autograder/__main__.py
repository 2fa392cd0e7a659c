"""`python -m autograder VERB`: the course's build and grading commands.

  build [LESSON ...]           regenerate course/ and the reference modules from solutions/
  release [DIR]                write the student bundle (default: release/)
  check NOTEBOOK               a student's self-check: run the visible tests, print a table
  samples [DIR]                sample submissions to try grading on (default: samples/)
  grade SUBMISSIONS_DIR        autograde DIR/<student>/<lesson>/<lesson>.ipynb into the gradebook
                               (skips what is graded and unchanged; --force grades it again)
  feedback                     per-student HTML feedback (no hidden test code)
  export                       grades.csv and exercises.csv from the gradebook
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.grading import DEFAULT_WORKDIR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    build = verbs.add_parser("build", help="regenerate course/ and the reference modules")
    build.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    release = verbs.add_parser("release", help="write the student bundle")
    release.add_argument("dir", nargs="?", type=Path, help="target folder (default: release/)")
    check = verbs.add_parser("check", help="run a notebook's visible tests and print a table")
    check.add_argument("notebook", type=Path, help="a lesson's .ipynb or its paired .py")
    samples = verbs.add_parser("samples", help="write sample submissions to try grading on")
    samples.add_argument("dir", nargs="?", type=Path, default=Path("samples"),
                         help="target folder (default: samples/)")
    samples.add_argument("--adversarial", action="store_true",
                         help="also lesson 02 submissions broken or dishonest in known ways")
    for name, text in (("grade", "autograde a folder of submissions"),
                       ("feedback", "write HTML feedback for every graded submission"),
                       ("export", "write grades.csv and exercises.csv")):
        verb = verbs.add_parser(name, help=text)
        if name == "grade":
            verb.add_argument("submissions", type=Path,
                              help="folder laid out as <student>/<lesson>/<lesson>.ipynb")
            verb.add_argument("--workers", type=int, default=1,
                              help="submissions graded at once (default 1; about one per core)")
            verb.add_argument("--force", action="store_true",
                              help="grade again what is graded and unchanged (default: skip it)")
            verb.add_argument("--timeout", type=int,
                              help="seconds per cell before it is stopped (default 120)")
        if name == "export":
            verb.add_argument("--ledgers", nargs="+", type=Path, default=[], metavar="WORKDIR",
                              help="other machines' grading folders, when several grade into "
                                   "one database: their students' notes are exported too")
        verb.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                          help="nbgrader's course folder (default: autograder/)")
        verb.add_argument("--db", help="gradebook URL (default: sqlite:///WORKDIR/gradebook.db; "
                                       "PostgreSQL: postgresql+psycopg2://user@host:port/db)")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.verb == "build":
        from autograder.build import build
        build(args.lessons or None)
    elif args.verb == "release":
        from autograder.release import DEFAULT_TARGET, write_release
        target = args.dir or DEFAULT_TARGET
        files = write_release(target)
        print(f"wrote the student bundle: {len(files)} files in {target} "
              "(scanned: no solutions, hidden tests or reference code)")
    elif args.verb == "samples":
        from autograder.samples import write_all_samples
        count = write_all_samples(args.dir, adversarial=args.adversarial)
        print(f"wrote {count} sample submissions under {args.dir}; grade them with: "
              f"python -m autograder grade {args.dir}")
    elif args.verb == "check":
        from autograder.selfcheck import check
        return check(args.notebook)
    else:
        from autograder import grading
        db_url = args.db or f"sqlite:///{args.workdir.resolve() / 'gradebook.db'}"
        if args.verb == "grade":
            scores = grading.grade(args.submissions, args.workdir, db_url, workers=args.workers,
                                   force=args.force, timeout=args.timeout)
            print(grading.summary_table(scores))
            print(f"report (ungraded, broken and flagged cells): "
                  f"{args.workdir / grading.REPORT}")
        if args.verb in ("grade", "export"):
            grades, exercises = grading.export(db_url, args.workdir,
                                               getattr(args, "ledgers", []))
            print(f"grades: {grades}\nper exercise: {exercises}\ngradebook: {db_url}")
        if args.verb == "feedback":
            files = grading.feedback(args.workdir, db_url)
            print(f"wrote {len(files)} feedback files under {args.workdir / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
