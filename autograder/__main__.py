"""`python -m autograder VERB`: the course's build and grading commands (see --help)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    build = verbs.add_parser("build", help="regenerate course/ and the reference modules")
    build.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    args = parser.parse_args(argv)

    if args.verb == "build":
        from autograder.build import BuildError, build as run_build
        try:
            run_build(args.lessons or None)
        except BuildError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
