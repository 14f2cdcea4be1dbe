"""Sampler settings: the dialog validates through SamplerSettings, persists, resets; broken files never crash."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton

from app.chat.settings_dialog import parse_settings
from app.store.app_settings import AppSettings, load_settings, save_settings, settings_path


def _field(dialog: QDialog, key: str) -> QLineEdit:
    return dialog.findChild(QLineEdit, f"setting_{key}")


def test_dialog_rejects_bad_values_with_the_engine_message(qtbot, desk):
    dialog = desk.controller.open_settings()
    assert dialog.objectName() == "settingsDialog" == dialog.accessibleName()
    error = dialog.findChild(QLabel, "settingsError")
    ok = dialog.findChild(QPushButton, "settingsOk")

    _field(dialog, "t_max").setText("0.1")
    ok.click()
    plain = "“Temperature at the start” must be greater than “Temperature at the end”"
    assert dialog.isVisible() and plain in error.text()

    _field(dialog, "t_max").setText("0.8")
    _field(dialog, "max_denoising_steps").setText("0")
    ok.click()
    assert dialog.isVisible() and "Most refining steps per block" in error.text() and "1 to" in error.text()

    _field(dialog, "max_denoising_steps").setText("lots")
    ok.click()
    assert "whole number" in error.text()

    _field(dialog, "max_denoising_steps").setText("7")
    ok.click()
    assert not dialog.isVisible()
    assert desk.controller.sampler.max_denoising_steps == 7
    assert load_settings().sampler["max_denoising_steps"] == 7


def test_reset_to_model_defaults_fills_the_fields_and_cancel_keeps_the_settings(qtbot, desk):
    dialog = desk.controller.open_settings()
    _field(dialog, "entropy_bound").setText("0.5")
    dialog.findChild(QPushButton, "settingsOk").click()
    assert desk.controller.sampler.entropy_bound == 0.5

    dialog = desk.controller.open_settings()
    dialog.findChild(QPushButton, "resetDefaultsButton").click()
    assert float(_field(dialog, "entropy_bound").text()) == desk.controller.model.defaults["entropy_bound"] != 0.5
    assert "Cancel keeps your settings" in dialog.findChild(QLabel, "settingHelp").text()
    dialog.reject()
    assert desk.controller.sampler.entropy_bound == 0.5  # nothing the user had is lost by a reset they cancel


def test_tooltips_explain_every_setting(qtbot, desk):
    dialog = desk.controller.open_settings()
    for edit in dialog.findChildren(QLineEdit):
        assert len(edit.toolTip()) > 20
    dialog.reject()


def test_parse_settings_names_the_field():
    try:
        parse_settings({"max_new_tokens": "12", "entropy_bound": "-1"})
    except ValueError as exc:
        assert "entropy_bound" in str(exc)
    else:
        raise AssertionError("negative entropy_bound was accepted")


def test_broken_settings_file_gives_defaults_and_a_message(qtbot, chat_em, tmp_path):
    settings_path().write_text("this is [not toml", encoding="utf-8")
    broken = load_settings()
    assert broken.sampler == {} and "Could not read" in broken.problem
    settings_path().write_text("[sampler]\nt_min = 5.0\nt_max = 1.0\n", encoding="utf-8")
    invalid = load_settings()
    assert invalid.sampler == {} and "invalid" in invalid.problem

    from app.shell.desktop import create_desktop

    desktop = create_desktop(store_path=tmp_path / "c.sqlite3", autoload=False)
    try:
        banner = desktop.window.findChild(QLabel, "errorBanner")
        assert not banner.isHidden() and "invalid" in banner.text()
    finally:
        desktop.window.close()


def test_settings_round_trip():
    save_settings(AppSettings(sampler={"max_new_tokens": 512, "t_min": 0.3}, model="/models/x \"y\""))
    loaded = load_settings()
    assert loaded.sampler == {"max_new_tokens": 512, "t_min": 0.3} and loaded.model == '/models/x "y"'
    assert not loaded.problem


def test_the_demo_model_is_remembered_by_name_not_by_this_installs_path(tmp_path):
    """A reinstall, a moved app or a one-file bundle unpacked elsewhere puts the demo model in another folder: the
    settings file names it "demo", and an older file's path to another install's copy means this install's copy."""
    from app.models.model_sources import demo_model_available, demo_model_dir, model_label
    if not demo_model_available():
        pytest.skip("no embedded demo model in this build")
    save_settings(AppSettings(model=str(demo_model_dir())))
    assert 'model = "demo"' in settings_path().read_text(encoding="utf-8")
    assert load_settings().model == str(demo_model_dir())
    other_copy = tmp_path / "old-install" / "resources" / "demo-model"
    other_copy.mkdir(parents=True)
    (other_copy / "config.json").write_text("{}")
    save_settings(AppSettings(model=str(other_copy)))  # as an older version wrote it
    loaded = load_settings()
    assert loaded.model == str(demo_model_dir()) and model_label(loaded.model).startswith("Demo model")
    save_settings(AppSettings(model=str(tmp_path / "my-model")))  # any other folder stays as it is
    assert load_settings().model == str(tmp_path / "my-model")
