"""The two questions of "Import folder…": which folder (Qt's own folder dialog, made readable on the dark theme)
and whether to copy it or link to it (with what each costs)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine.models.units import human_bytes

from ..common.file_dialogs import dress


def choose_model_folder(parent: QWidget, title: str = "Import a DiffusionGemma model folder",
                        name: str = "importFolderDialog") -> str | None:
    """The folder the user picks, or None. Opens in the home folder (not wherever the app was started), with the
    toolbar's icons drawn and named (the theme left them blank)."""
    dialog = QFileDialog(parent, title, str(Path.home()))
    dialog.setObjectName(name)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    dress(dialog)
    chosen = dialog.selectedFiles()[0] if dialog.exec() and dialog.selectedFiles() else None
    dialog.deleteLater()
    return chosen


def ask_import_mode(parent: QWidget, size: int) -> str | None:
    """ "copy", "link" or None (Cancel), asked with what each costs for a folder of `size` bytes."""
    box = QMessageBox(QMessageBox.Icon.Question, "Import model",
                      "Copy the folder into Diffusion Desk, or link to it where it is?", parent=parent)
    box.setObjectName("importModeDialog")
    box.setInformativeText(f"Copy uses another {human_bytes(size)} of disk; the original can then be moved or "
                           "deleted.\nLink uses no extra space, but the model stops working if the folder is "
                           "moved or deleted.")
    copy = box.addButton("Copy", QMessageBox.ButtonRole.AcceptRole)
    link = box.addButton("Link", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    box.deleteLater()
    clicked = box.clickedButton()
    return "copy" if clicked is copy else "link" if clicked is link else None
