"""The canvas: every denoising step of every canvas, live and in replay; film strip and animation export."""
