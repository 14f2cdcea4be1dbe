"""◆ `python -m engine.hardware [--json] [--gpu NAME]`: detected GPUs (or a named table card) and what runs there."""

from __future__ import annotations

import argparse
import json
import sys

from ..cli_common import argv_text, print_error, run_cli, safe_text
from .discovery import HardwareReport, discover, gpu_from_spec
from .gpus import close_matches, find_gpus
from .summary import report_json, report_text


def _named(query: str) -> HardwareReport | None:
    specs = find_gpus(query)
    if not specs:
        return None
    return HardwareReport(gpus=tuple(gpu_from_spec(spec, index=i) for i, spec in enumerate(specs)))


def main(argv: list[str] | None = None) -> int:
    """Print the hardware report; exit 1 with a one-line message when --gpu names no known card."""
    parser = argparse.ArgumentParser(prog="python -m engine.hardware", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--gpu", metavar="NAME", help="evaluate a card from the shipped table instead of this machine")
    args = parser.parse_args(argv)
    return run_cli(lambda: _report(args))


def _report(args: argparse.Namespace) -> int:
    if args.gpu is not None:
        report = _named(argv_text(args.gpu, "--gpu"))
        if report is None:
            hint = ", ".join(close_matches(args.gpu)) or "none"
            print_error(f"unknown or ambiguous GPU {args.gpu!r}; close matches: {hint}")
            return 1
    else:
        report = discover()
    # GPU names come from the driver (or a fake-GPU setting): shown through safe_text, JSON escapes them itself.
    print(json.dumps(report_json(report), indent=1) if args.json else safe_text(report_text(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
