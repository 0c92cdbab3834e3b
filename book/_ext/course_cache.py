"""Execution cache of the chapters: one jupyter-cache per setting (quick or full) and code version.

With ``execute_notebooks: cache`` myst-nb re-executes a chapter only when its code cells changed
(jupyter-cache hashes the code, not the prose). Two things the hash does not see are added here:

* the quick setting (``COURSE_QUICK=1``) trains for a few steps only: its outputs must never be
  shown by a full build, nor the other way round, so each setting gets its own cache folder;
* the course package (``coursekit``) and the pinned requirements that every chapter runs on:
  when they change, every chapter's outputs may change, so the folder name carries their hash.

Layout: ``<build>/.jupyter_cache/<quick|full>-<hash>``; older folders of the same setting are
removed. A path set in ``_config.yml`` (``execute.cache``) is used as the parent folder instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def quick_setting() -> bool:
    """The course's quick setting, read as ``coursekit.runtime.quick`` reads it (no torch import)."""
    return os.environ.get("COURSE_QUICK", "0").strip().lower() not in ("", "0", "false", "no")


def code_fingerprint(srcdir: Path) -> str:
    """Hash of the course package the kernels import and of the pinned requirements."""
    digest = hashlib.sha256()
    spec = importlib.util.find_spec("coursekit")
    files = []
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        files = sorted(package.rglob("*.py"))
    requirements = srcdir / "requirements.txt"
    for path in files + ([requirements] if requirements.is_file() else []):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _set_cache_path(app, config) -> None:
    if config.nb_execution_mode != "cache":
        return
    root = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    if not root.is_absolute():
        root = Path(app.srcdir) / root
    setting = "quick" if quick_setting() else "full"
    path = root / f"{setting}-{code_fingerprint(Path(app.srcdir))}"
    if root.is_dir():
        for old in root.glob(f"{setting}-*"):
            if old != path and old.is_dir():
                LOGGER.info(f"course_cache: removing the outdated cache {old}")
                shutil.rmtree(old, ignore_errors=True)
    config.nb_execution_cache_path = str(path)
    LOGGER.info(f"course_cache: {setting} setting, execution cache {path}")


def _outdated(app, env, added, changed, removed) -> list[str]:
    """Re-read every notebook when the cache folder changed (other setting or code version): an
    incremental build (no ``--all``) would otherwise keep pages from the other setting."""
    current = app.config.nb_execution_cache_path
    previous = getattr(env, "course_cache_path", None)
    env.course_cache_path = current
    if previous is None or previous == current:
        return []
    return [doc for doc in env.found_docs if str(env.doc2path(doc)).endswith(".ipynb")]


def setup(app):
    app.connect("config-inited", _set_cache_path, priority=400)
    app.connect("env-get-outdated", _outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
