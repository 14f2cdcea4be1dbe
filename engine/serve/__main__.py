"""`python -m engine.serve [--model M] [--profile P] [--host H] [--port N] [--api-key K] [--bench [--json]]`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..cli_common import argv_text, load_model_arg, one_line, run_cli, safe_text
from ..errors import UsageError
from .app import check_api_key
from .hosts import bind_address
from .server import DEFAULT_HOST, DEFAULT_PORT, Server

KEY_VARIABLE = "DIFFUSION_DESK_API_KEY"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, parsed (values are checked in `main`)."""
    parser = argparse.ArgumentParser(prog="python -m engine.serve", description="An OpenAI-compatible server for "
                                     "one DiffusionGemma model (see `engine/serve/__init__.py` for the fields).")
    parser.add_argument("--model", default="demo", help="demo (embedded), tiny, a model folder or a cached hub id")
    parser.add_argument("--profile", default=None, help="load profile: bf16, fp8, int8, offload, cpu, fp16, fp32")
    parser.add_argument("--host", default=None, help=f"address to listen on (default {DEFAULT_HOST}, this machine "
                        "only); anything else is reachable from other machines")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--api-key", default=None, help=f"require 'Authorization: Bearer KEY' (or set {KEY_VARIABLE})")
    parser.add_argument("--bench", action="store_true", help="measure served vs in-process tok/s and exit")
    parser.add_argument("--json", action="store_true", help="with --bench: print one JSON object")
    return parser.parse_args(argv)


def _load(args: argparse.Namespace):
    return load_model_arg(args.model, profile=args.profile)


def main(argv: list[str] | None = None) -> int:
    """Run the server (or its bench); expected failures end with one `error:` line and exit code 2."""
    args = parse_args(argv)

    def body() -> int:
        if not 0 <= args.port <= 65535:
            raise UsageError(f"--port must be from 0 to 65535 (got {args.port}).")
        if args.bench:
            from .bench import run_bench

            report = run_bench(_load(args))
            print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
            return 0
        host = argv_text(args.host, "--host") if args.host is not None else DEFAULT_HOST
        key = args.api_key if args.api_key is not None else os.environ.get(KEY_VARIABLE) or None
        if key is not None:
            argv_text(key, "--api-key")
            check_api_key(key, "--api-key" if args.api_key is not None else KEY_VARIABLE)
        if not bind_address(host).is_loopback:  # checked before the model loads: an unknown host fails at once
            print(f"warning: {one_line(f'listening on {host}: other machines on the network can use this model')}"
                  + ("" if key else " — with no API key, anyone who can reach the port") + ".", file=sys.stderr,
                  flush=True)
        server = Server(_load(args), host=host, port=args.port, api_key=key)
        server.bind()
        print(f"Serving {safe_text(server.service.model_id, newlines=False)} at {safe_text(server.url)} "
              f"({'key required' if key else 'no key'}); Ctrl+C stops.", flush=True)
        server.serve_forever()
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
