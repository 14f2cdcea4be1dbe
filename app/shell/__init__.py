"""The process around the window: start-up, the main window, crash handling, one instance, desktop entry, self-test."""
