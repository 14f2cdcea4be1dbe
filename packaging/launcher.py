"""The bundle's entry point: the same `main` as the `diffusion-desk` gui-script."""

import multiprocessing
import sys

from app.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
