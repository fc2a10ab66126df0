"""``python -m seglab.check digest KEY VALUE [--decimals N]``: the digest a hidden test compares a graded number
with (see ``docs/homework_guide.md``, "A new term")."""

from __future__ import annotations

import argparse
import sys

from seglab.check.core import answer_digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglab.check", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    digest = sub.add_parser("digest", help="the sha256 digest of a graded number, salted with its part's key")
    digest.add_argument("key", help="the part's key, e.g. ch1_explorer_size (its grade_id)")
    digest.add_argument("value", type=float)
    digest.add_argument("--decimals", type=int, default=None, help="round a float answer to this many decimals")
    args = parser.parse_args(argv)
    try:
        print(answer_digest(args.value, args.key, args.decimals))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
