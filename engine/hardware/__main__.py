"""◆ `python -m engine.hardware [--json] [--gpu NAME]`: detected GPUs (or a named table card) and what runs there."""

from __future__ import annotations

import argparse
import json
import sys

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
    if args.gpu is not None:
        report = _named(args.gpu)
        if report is None:
            hint = ", ".join(close_matches(args.gpu)) or "none"
            print(f"error: unknown or ambiguous GPU {args.gpu!r}; close matches: {hint}", file=sys.stderr)
            return 1
    else:
        report = discover()
    print(json.dumps(report_json(report), indent=1) if args.json else report_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
