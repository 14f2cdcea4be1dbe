"""`diffusion-desk --install-desktop-entry`: a freedesktop launcher and icon for the current user.

Writes `$XDG_DATA_HOME/applications/diffusion-desk.desktop` (default `~/.local/share`) from
`resources/diffusion-desk.desktop` with an absolute `Exec` for this installation, and the icons under
`$XDG_DATA_HOME/icons/hicolor/` (PNG sizes + scalable SVG). Every file is written atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .theme import RESOURCES

APP_ID = "diffusion-desk"
REQUIRED_KEYS = ("Type", "Name", "Exec", "Icon")


def data_home() -> Path:
    """`$XDG_DATA_HOME`, else `~/.local/share`."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local" / "share"


def launch_command() -> tuple[str, str | None]:
    """The `Exec` value that starts this installation (a frozen bundle, the gui-script, or `python -m app`)
    and the working folder it needs (`python -m app` from a checkout runs in the checkout)."""
    if getattr(sys, "frozen", False):
        return _exec_quote(sys.executable), None
    script = shutil.which(APP_ID)
    if script:
        return _exec_quote(script), None
    return f"{_exec_quote(sys.executable)} -m app", str(RESOURCES.parent)


def _exec_quote(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec (reserved characters → double quotes, escapes)."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'.replace("\\", "\\\\")  # the value itself is a string: its backslashes escape once more


def desktop_entry_text(
    exec_command: str, workdir: str | None = None, template: Path = RESOURCES / "diffusion-desk.desktop"
) -> str:
    """The template with `Exec` set to `exec_command` (where the template had it, or before `Icon`) and `Path`
    set to `workdir` when given."""
    lines = [
        line for line in template.read_text(encoding="utf-8").splitlines() if not line.startswith(("TryExec=", "Path="))
    ]
    if workdir:
        lines.insert(lines.index("[Desktop Entry]") + 1 if "[Desktop Entry]" in lines else 0, f"Path={workdir}")
    at = next((i for i, line in enumerate(lines) if line.startswith("Exec=")), None)
    if at is not None:
        lines[at] = f"Exec={exec_command}"
        return "\n".join(lines) + "\n"
    at = next((i for i, line in enumerate(lines) if line.startswith("Icon=")), len(lines))
    lines.insert(at, f"Exec={exec_command}")
    return "\n".join(lines) + "\n"


def parse_desktop_entry(text: str) -> dict[str, str]:
    """The `[Desktop Entry]` group's keys (enough for checks; not a full parser)."""
    keys: dict[str, str] = {}
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        if group == "Desktop Entry" and "=" in line:
            key, _, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def install_desktop_entry(target: Path | None = None, exec_command: str | None = None) -> list[Path]:
    """Install the launcher and icons under `target` (default `data_home()`); returns the files written.
    `exec_command` replaces the detected launch command (no working folder then)."""
    root = target or data_home()
    written = []
    entry = root / "applications" / f"{APP_ID}.desktop"
    command, workdir = (exec_command, None) if exec_command else launch_command()
    _write_atomically(entry, desktop_entry_text(command, workdir).encode("utf-8"))
    written.append(entry)
    icons = RESOURCES / "icons"
    for png in sorted((icons / "hicolor").glob(f"*/apps/{APP_ID}.png")):
        dest = root / "icons" / "hicolor" / png.relative_to(icons / "hicolor")
        _write_atomically(dest, png.read_bytes())
        written.append(dest)
    svg = root / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    _write_atomically(svg, (icons / f"{APP_ID}.svg").read_bytes())
    written.append(svg)
    _refresh_caches(root)
    return written


def _refresh_caches(root: Path) -> None:
    """Tell the desktop about the new files where its tools exist (best effort, never an error)."""
    for command in (["update-desktop-database", str(root / "applications")],
                    ["gtk-update-icon-cache", "-q", "-t", str(root / "icons" / "hicolor")]):
        if shutil.which(command[0]):
            try:
                subprocess.run(command, capture_output=True, timeout=30, check=False)
            except (OSError, subprocess.SubprocessError):
                pass


def main() -> int:
    """The command-line action: install, print what was written, exit 0 (1 with a reason on failure)."""
    if sys.platform in ("win32", "darwin"):
        print("Desktop entries are for Linux desktops. On Windows and macOS use the app bundle "
              "(packaging/NOTES.md) and pin it to the Start menu or the Dock.", file=sys.stderr)
        return 1
    try:
        files = install_desktop_entry()
    except OSError as exc:
        print(f"Could not install the desktop entry: {exc}", file=sys.stderr)
        return 1
    print(f"Installed the Diffusion Desk launcher: {files[0]}")
    print(f"Icons: {len(files) - 1} files under {files[0].parent.parent / 'icons' / 'hicolor'}")
    return 0
