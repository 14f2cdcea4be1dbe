"""`diffusion-desk` / `python -m app`: opens the main window (placeholder until the GUI issue lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication(sys.argv if argv is None else ["diffusion-desk", *argv])
    label = QLabel("Diffusion Desk")
    label.setWindowTitle("Diffusion Desk")
    label.resize(640, 400)
    label.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
