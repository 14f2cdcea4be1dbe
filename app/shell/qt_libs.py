"""Before the first window on Linux: are the system libraries Qt's X11 (xcb) plugin needs installed?

Without them Qt prints a misleading hint (it blames libxcb-cursor0 whatever is missing) and the process ends in
a bare "Aborted", leaving nothing in the log. `missing_libraries` asks `ldd` about the plugin instead, and
`install_hint` turns the missing file names into the exact install command for this distribution.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# soname → package, per distribution family (the libraries Qt 6's xcb plugin links against)
PACKAGES: dict[str, dict[str, str]] = {
    "libxcb-cursor.so.0": {"debian": "libxcb-cursor0", "fedora": "xcb-util-cursor", "arch": "xcb-util-cursor"},
    "libxcb-icccm.so.4": {"debian": "libxcb-icccm4", "fedora": "xcb-util-wm", "arch": "xcb-util-wm"},
    "libxcb-keysyms.so.1": {"debian": "libxcb-keysyms1", "fedora": "xcb-util-keysyms", "arch": "xcb-util-keysyms"},
    "libxcb-image.so.0": {"debian": "libxcb-image0", "fedora": "xcb-util-image", "arch": "xcb-util-image"},
    "libxcb-util.so.1": {"debian": "libxcb-util1", "fedora": "xcb-util", "arch": "xcb-util"},
    "libxcb-render-util.so.0": {"debian": "libxcb-render-util0", "fedora": "xcb-util-renderutil",
                                "arch": "xcb-util-renderutil"},
    "libxkbcommon-x11.so.0": {"debian": "libxkbcommon-x11-0", "fedora": "libxkbcommon-x11", "arch": "libxkbcommon-x11"},
    "libxkbcommon.so.0": {"debian": "libxkbcommon0", "fedora": "libxkbcommon", "arch": "libxkbcommon"},
    "libX11-xcb.so.1": {"debian": "libx11-xcb1", "fedora": "libX11-xcb", "arch": "libx11"},
    "libEGL.so.1": {"debian": "libegl1", "fedora": "libglvnd-egl", "arch": "libglvnd"},
    "libGL.so.1": {"debian": "libgl1", "fedora": "libglvnd-glx", "arch": "libglvnd"},
    "libOpenGL.so.0": {"debian": "libopengl0", "fedora": "libglvnd-opengl", "arch": "libglvnd"},
    "libfontconfig.so.1": {"debian": "libfontconfig1", "fedora": "fontconfig", "arch": "fontconfig"},
    "libdbus-1.so.3": {"debian": "libdbus-1-3", "fedora": "dbus-libs", "arch": "dbus"},
}
INSTALL = {"debian": "sudo apt install", "fedora": "sudo dnf install", "arch": "sudo pacman -S --needed"}
XCB_FALLBACK = {"debian": "libxcb-{name}{n}", "fedora": "libxcb", "arch": "libxcb"}


def platform_is_xcb(env: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """Whether Qt will use its X11 plugin: Linux, and QT_QPA_PLATFORM says xcb, or is unset on an X11 session."""
    env = os.environ if env is None else env
    if not platform.startswith("linux"):
        return False
    chosen = (env.get("QT_QPA_PLATFORM") or "").split(";")[0].split(":")[0].strip().lower()
    if chosen:
        return chosen == "xcb"
    wayland = bool(env.get("WAYLAND_DISPLAY")) and (env.get("XDG_SESSION_TYPE") or "wayland") == "wayland"
    return bool(env.get("DISPLAY")) and not wayland


def xcb_plugin() -> Path | None:
    """PySide6's `libqxcb.so`, or None when this Qt has none."""
    try:
        import PySide6
    except ImportError:
        return None
    path = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def _ldd(path: Path) -> str:
    tool = shutil.which("ldd")
    if tool is None:
        return ""
    try:
        return subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def missing_libraries(plugin: Path | None = None, ldd: Callable[[Path], str] = _ldd) -> list[str]:
    """Shared libraries (sonames) the xcb plugin needs that the system does not have, in ldd's order."""
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return []
    missing: list[str] = []
    for line in ldd(plugin).splitlines():
        found = re.match(r"\s*(\S+)\s+=>\s+not found", line)
        if found and found.group(1) not in missing:
            missing.append(found.group(1))
    return missing


def distribution(os_release: str | None = None) -> str:
    """"debian", "fedora" or "arch" (from /etc/os-release ID and ID_LIKE); "debian" when unknown."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
        except OSError:
            os_release = ""
    ids = " ".join(re.findall(r"^(?:ID|ID_LIKE)=\"?([^\"\n]*)", os_release, re.MULTILINE)).lower().split()
    for family, names in (("fedora", {"fedora", "rhel", "centos"}), ("arch", {"arch", "manjaro", "endeavouros"}),
                          ("debian", {"debian", "ubuntu"})):
        if names & set(ids):
            return family
    return "debian"


def package_for(soname: str, family: str) -> str:
    """The package that provides `soname` on `family`."""
    known = PACKAGES.get(soname)
    if known is not None:
        return known[family]
    xcb = re.match(r"libxcb-([a-z0-9-]+)\.so\.(\d+)", soname)
    if xcb:
        return XCB_FALLBACK[family].format(name=xcb.group(1), n=xcb.group(2))
    return soname.split(".so")[0]


def install_hint(missing: list[str], family: str) -> str:
    """What to tell the user: what is missing, and the one command that installs it."""
    packages = list(dict.fromkeys(package_for(name, family) for name in missing))
    return (
        "Diffusion Desk cannot open its window: Qt's X11 support needs system libraries that are not installed "
        f"({', '.join(missing)}).\nInstall them with:\n\n    {INSTALL[family]} {' '.join(packages)}\n\n"
        "then start Diffusion Desk again. (To run without a display, set QT_QPA_PLATFORM=offscreen.)"
    )


def check_qt_platform(env: dict[str, str] | None = None) -> str:
    """"" when the window can open (or this is not X11), else the install hint. Call before QApplication."""
    if not platform_is_xcb(env):
        return ""
    missing = missing_libraries()
    return install_hint(missing, distribution()) if missing else ""
