"""coursekit: the small helper package shared by the chapters of
*Deep Generative Models and Segmentation for Medical Imaging*.

It holds plumbing only (data downloads, devices and seeds, progress bars,
plotting grids, widgets); the models a chapter explains are written in the
chapter itself.

Modules
-------
runtime      device choice (COURSE_DEVICE), seeding, the quick setting, metric reporting,
             stored results of long benchmark runs (measured)
devicecheck  the device check (COURSE_DEVICE=meta): device mismatches found without a GPU
data         the data directory, the offline mirror, data set loaders
training     in-memory mini-batches and progress bars
plotting     image grids and small figure helpers
widgets      ipywidgets helpers used by the chapters
"""

from coursekit.runtime import get_device, quick, report, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "quick", "report", "seed_everything", "__version__"]
