"""◆ `python -m engine.models list|pull REPO|remove REPO|verify REPO|import DIR [--json]`.

Exit 0 on success; otherwise a one-line reason on stderr and a non-zero code: 1 other failure, 2 invalid model id,
local name or revision, 3 licence/token, 4 not found, 5 disk space, 6 verification, 7 offline, 130 cancelled.
Honours `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`, `HF_HOME`/`HF_HUB_CACHE` and `DIFFUSION_DESK_HOME`. Progress
goes to stderr. `DIFFUSION_DESK_CHUNK_BYTES` sets how many bytes are read between progress reports (default 1 MiB);
`DIFFUSION_DESK_IMPORT_MAX_BYTES` caps what `import` copies (default 200 GB).

Every REPO and `--name` is validated first (`engine.models.ids`): `org/name` for the hub, `local/<name>` for an
import. `remove` deletes only models `list` shows; another repo in a shared cache needs `--force`, and even then
nothing outside the model cache or the imported folder is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

from ..cli_common import check_environment, live_enabled, one_line, safe_text
from ..errors import EngineError
from . import errors as model_errors
from .catalogue import load_catalogue
from .download import PullProgress, pull
from .ids import parse_model_id
from .importing import import_folder
from .store import delete_model, list_local_models, local_status
from .units import human_bytes, human_eta
from .verify import verify_model

EXIT_CODES = (
    (model_errors.InvalidNameError, 2),
    (model_errors.AuthRequiredError, 3),
    (model_errors.ModelNotFoundError, 4),
    (model_errors.ModelNotReadyError, 4),
    (model_errors.DiskSpaceError, 5),
    (model_errors.ChecksumError, 6),
    (model_errors.OfflineError, 7),
    (model_errors.DownloadCancelled, 130),
)


class TerminalBar:
    """A one-line progress bar on stderr (redrawn in place on a terminal, a line per second otherwise)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = live_enabled(stream)
        self.last_line = 0.0

    def __call__(self, p: PullProgress) -> None:
        if p.phase == "checking":
            print(safe_text(f"{p.repo_id}: {p.note}"), file=self.stream, flush=True)
            return
        frac = p.done / p.total if p.total else 1.0
        bar = "#" * int(frac * 30)
        verb = {"verifying": "verify", "done": "done"}.get(p.phase, "pull")
        line = (f"{verb} [{bar:<30}] {frac * 100:5.1f}% {human_bytes(p.done)}/{human_bytes(p.total)} "
                f"{human_bytes(p.speed_bps)}/s ETA {human_eta(p.eta_s)} {safe_text(p.filename[-36:], newlines=False)}"
                + (f" {100 * p.file_done / p.file_total:.0f}%" if p.file_total and p.phase == "downloading" else ""))
        if p.note:
            print(("\n" if self.tty else "") + safe_text(p.note), file=self.stream, flush=True)
        if self.tty:
            print("\r" + line.ljust(110), end="\n" if p.phase == "done" else "", file=self.stream, flush=True)
        elif p.phase == "done" or time.monotonic() - self.last_line >= 1.0:
            self.last_line = time.monotonic()
            print(line, file=self.stream, flush=True)


def cmd_list(args: argparse.Namespace) -> dict:
    local = list_local_models()
    catalogue = []
    for entry in load_catalogue():
        status = "embedded" if entry.embedded else local_status(entry.repo_id)[0] if entry.repo_id else "-"
        catalogue.append({
            "id": entry.id, "name": entry.name, "repo_id": entry.repo_id, "support": entry.status,
            "reason": entry.reason, "download_size_gb": entry.download_size_gb, "gated": entry.gated,
            "local_status": status,
        })
    result = {"catalogue": catalogue, "local": [
        {"id": m.id, "path": str(m.path), "kind": m.kind, "status": m.status, "size_bytes": m.size_bytes,
         "problems": m.problems} for m in local]}
    if not args.json:
        print("Catalogue:")
        for row in catalogue:
            print(safe_text(f"  {row['id']:<50} {row['support']:<18} {row['local_status']}", newlines=False))
        print("On disk:")
        for m in local:
            print(safe_text(f"  {m.id:<50} {m.status:<12} {human_bytes(m.size_bytes):>9}  {m.path}", newlines=False))
        if not local:
            print("  (none)")
    return result


def cmd_pull(args: argparse.Namespace) -> dict:
    chunk = int(os.environ.get("DIFFUSION_DESK_CHUNK_BYTES") or 1024 * 1024)
    result = pull(parse_model_id(args.repo, hub=True), revision=args.revision, on_progress=TerminalBar(),
                  chunk_size=chunk)
    out = {**asdict(result), "path": str(result.path), "status": "ready"}
    if not args.json:
        print(safe_text(f"{result.repo_id} is ready: {result.path}"))
    return out


def cmd_remove(args: argparse.Namespace) -> dict:
    model_id = parse_model_id(args.repo)
    freed = delete_model(model_id, force=args.force)
    if not args.json:
        print(f"Removed {model_id}; freed {human_bytes(freed)}.")
    return {"id": str(model_id), "freed_bytes": freed}


def cmd_verify(args: argparse.Namespace) -> dict:
    report = verify_model(parse_model_id(args.repo))
    out = {"id": report.model_id, "path": str(report.folder), "ok": report.ok, "checked": report.checked,
           "problems": report.problems}
    if not report.ok:
        if args.json:
            print(json.dumps(out))
        raise model_errors.ChecksumError(f"{report.model_id}: " + "; ".join(report.problems), report.problems[0])
    if not args.json:
        print(f"{report.model_id}: all {len(report.checked)} files verified.")
    return out


def cmd_import(args: argparse.Namespace) -> dict:
    model = import_folder(args.dir, mode="link" if args.link else "copy", name=args.name)
    if not args.json:
        print(safe_text(f"Imported {model.id} ({'linked' if args.link else 'copied'}): {model.path}"))
    return {"id": model.id, "path": str(model.path), "status": model.status, "size_bytes": model.size_bytes}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("list", "catalogue and models on disk"), ("pull", "download and verify a model"),
                           ("remove", "delete a model"), ("verify", "re-hash a model's files"),
                           ("import", "import a model folder")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        if name in ("pull", "remove", "verify"):
            p.add_argument("repo", help="hub repo id (org/name) or local/<name>")
        if name == "pull":
            p.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
        if name == "remove":
            p.add_argument("--force", action="store_true",
                           help="also delete a cache repo that is not a DiffusionGemma model listed here")
        if name == "import":
            p.add_argument("dir")
            p.add_argument("--link", action="store_true", help="link to the folder instead of copying it")
            p.add_argument("--name", default=None, help="local name (one folder name, e.g. my-model)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = {"list": cmd_list, "pull": cmd_pull, "remove": cmd_remove, "verify": cmd_verify,
               "import": cmd_import}[args.command]
    try:
        check_environment()
        out = command(args)
    except KeyboardInterrupt:
        print("error: cancelled; run the same command again to resume.", file=sys.stderr)
        return 130
    except EngineError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), 1)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
