"""The question asked before a link from an answer leaves the app: the full address (control characters made
visible), "Open in browser" only for http/https addresses with a host, "Copy address", Cancel by default."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from .markdown_render import LinkTarget, printable

OPENABLE_SCHEMES = ("http", "https")


def _wrapped(text: str, width: int = 72) -> str:
    """Long addresses broken into lines for display (the copied address stays whole)."""
    return "\n".join(text[i : i + width] for i in range(0, len(text), width)) or "(empty)"


def confirm_link(parent: QWidget, target: LinkTarget) -> QMessageBox:
    """The dialog for `target`, not yet shown (deleted when closed); its buttons open or copy the address."""
    shown = printable(target.url)
    url = QUrl(target.url, QUrl.ParsingMode.StrictMode)
    openable = url.isValid() and url.scheme().lower() in OPENABLE_SCHEMES and bool(url.host()) and shown == target.url
    box = QMessageBox(parent)
    box.setObjectName("openLinkDialog")
    box.setAccessibleName("openLinkDialog")
    box.setWindowTitle("Open a link from the answer?")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setIcon(QMessageBox.Icon.Question if openable else QMessageBox.Icon.Warning)
    lines = ["The answer links to this address:", "", _wrapped(shown), ""]
    label = " ".join(target.text.split())
    if label and label != target.url and ("://" in label or label.lower().startswith("www.")):
        lines += [f"The link's text says “{printable(label)[:200]}”, but it leads to the address above.", ""]
    if openable:
        lines.append("Open it in your web browser only if you trust it.")
    else:
        lines.append("Diffusion Desk opens only http and https web addresses, so this one will not be opened.")
    box.setText("\n".join(lines))
    open_button = None
    if openable:
        open_button = box.addButton("Open in browser", QMessageBox.ButtonRole.AcceptRole)
        open_button.setObjectName("openLinkButton")
    copy_button = box.addButton("Copy address", QMessageBox.ButtonRole.ActionRole)
    copy_button.setObjectName("copyLinkButton")
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    cancel.setObjectName("cancelLinkButton")
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)

    def clicked(button: object) -> None:
        if button is open_button and open_button is not None:
            QDesktopServices.openUrl(url)
        elif button is copy_button:
            QGuiApplication.clipboard().setText(target.url)

    box.buttonClicked.connect(clicked)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return box
