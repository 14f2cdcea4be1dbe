"""Training, evaluation and export of Diffusion Desk's embedded demo model (resources/demo-model).

`python -m engine.train_demo` trains a tiny `DiffusionGemmaForBlockDiffusion` on code-generated skills with the
block-diffusion objective; `--export` writes the shipped checkpoint; `--eval` measures it.
"""
