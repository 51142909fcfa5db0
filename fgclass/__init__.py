"""fgclass: Lightning + Hydra experiments for fine-grained image classification."""

import os

# Albumentations asks PyPI for a newer release whenever it is imported (every run and every loader
# process): a network call at run time, and a warning after a 2 s wait on an offline machine.
# NO_ALBUMENTATIONS_UPDATE=0 in the environment turns the check back on.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
