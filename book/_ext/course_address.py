"""One place for the course's published address: ``repository`` in ``_config.yml``.

Jupyter Book builds the launch buttons (Colab, Binder) and the repository button from it. This
extension makes everything else follow it at build time:

* **Colab install cells.** Colab opens a chapter straight from the repository, so the chapter's
  first (hidden) cell must name the address itself. At every build the cell is rewritten from a
  template when it differs: it installs, pinned as in ``requirements.txt``, every package the
  chapter imports (directly or through ``coursekit``) that Colab does not provide, and the course
  package from ``git+<repository.url>@<repository.branch>``.
* **Links in pages.** ``{{ course_repository }}`` in any page (code blocks included) becomes the
  address, ``{{ course_repository_name }}`` its last part (the folder ``git clone`` makes).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import nbformat
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

#: Placeholders for the address in pages.
TOKEN, NAME_TOKEN = "{{ course_repository }}", "{{ course_repository_name }}"
#: Distributions a Colab runtime already has: a chapter importing only these installs nothing else.
COLAB_PROVIDES = frozenset({
    "torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "pillow", "ipywidgets",
    "ipython", "ipykernel", "tqdm", "pandas", "pyyaml", "requests", "traitlets"})
#: Marks the install cell (the first code cell of a chapter).
MARKER = '"google.colab" in sys.modules'
TEMPLATE = '''\
# On Colab, install what this chapter imports beyond Colab's own packages (a no-op elsewhere).
# Written by the book build from _config.yml (repository) and the chapter's imports: edit those.
import sys

if "google.colab" in sys.modules:
    get_ipython().run_line_magic("pip", "install -q {packages}")'''


def chapter_notebooks(srcdir: Path) -> list[Path]:
    """The chapters: book/NN_name.ipynb."""
    return sorted((srcdir / "book").glob("[0-9][0-9]_*.ipynb"))


def _code(source: str) -> ast.Module | None:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _imported(tree: ast.AST | None) -> set[str]:
    """Absolute module names imported anywhere in ``tree`` (``from a import b``: a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(tree) if tree is not None else []:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imported_modules(notebook: Path, package_dir: Path) -> set[str]:
    """Top-level modules a chapter imports, following its imports of ``coursekit`` modules."""
    nb = nbformat.read(notebook, as_version=4)
    pending = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and MARKER not in cell.source:
            pending |= _imported(_code(cell.source))
    seen, top = set(), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        head = name.split(".")[0]
        if head != package_dir.name:
            top.add(head)
            continue
        parts = name.split(".")[1:]
        for depth in range(len(parts) + 1):                   # the package and each submodule on the way
            base = package_dir.joinpath(*parts[:depth])
            for path in (base / "__init__.py", base.with_suffix(".py")):
                if path.is_file() and str(path) not in seen:
                    seen.add(str(path))
                    pending |= _imported(ast.parse(path.read_text()))
    return top


def install_packages(notebook: Path, package_dir: Path, requirements: Path) -> list[str]:
    """pip requirements the chapter needs on Colab (pinned where requirements.txt pins them)."""
    owners = importlib.metadata.packages_distributions()
    pins = {}
    if requirements.is_file():
        for line in requirements.read_text().splitlines():
            match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
            if match:
                pins[_normal(match[1])] = f"{match[1]}=={match[2]}"
    needed = set()
    for module in imported_modules(notebook, package_dir):
        if module in sys.stdlib_module_names or module == package_dir.name:
            continue
        for dist in owners.get(module, [module]):
            if _normal(dist) not in COLAB_PROVIDES:
                needed.add(pins.get(_normal(dist), dist))
    return sorted(needed, key=str.lower)


def install_cell_source(packages: list[str], url: str, branch: str) -> str:
    """The install cell of a chapter needing ``packages``, for the course at ``url`` (branch)."""
    course = f"'git+{url.rstrip('/')}@{branch}'"
    return TEMPLATE.format(packages=" ".join([*packages, course]))


def sync_install_cells(srcdir: Path, url: str, branch: str, package_dir: Path) -> list[Path]:
    """Rewrite each chapter's install cell where it differs from the template; return those changed."""
    changed = []
    for notebook in chapter_notebooks(srcdir):
        expected = install_cell_source(install_packages(notebook, package_dir, srcdir / "requirements.txt"),
                                       url, branch)
        nb = nbformat.read(notebook, as_version=nbformat.NO_CONVERT)
        code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
        if code and MARKER in nb.cells[code[0]].source:
            if nb.cells[code[0]].source == expected:
                continue
            nb.cells[code[0]].source = expected
        else:                                                  # no install cell yet: add one after the title
            cell = nbformat.v4.new_code_cell(expected, metadata={"tags": ["remove-cell"]})
            nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
        nbformat.write(nb, notebook)
        changed.append(notebook)
    return changed


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _address(config) -> tuple[str, str]:
    options = config.html_theme_options or {}
    return options.get("repository_url", ""), options.get("repository_branch") or "main"


def _on_config(app, config) -> None:
    url, branch = _address(config)
    if not url:
        LOGGER.warning("course_address: _config.yml has no repository.url; install cells left as they are")
        return
    import importlib.util

    spec = importlib.util.find_spec("coursekit")
    package_dir = Path(next(iter(spec.submodule_search_locations))) if spec else Path(app.srcdir) / "coursekit"
    for notebook in sync_install_cells(Path(app.srcdir), url, branch, package_dir):
        LOGGER.info(f"course_address: updated the Colab install cell of {notebook.name}")


def _substitute(app, docname, source) -> None:
    url = _address(app.config)[0].rstrip("/")
    source[0] = source[0].replace(TOKEN, url).replace(NAME_TOKEN, url.rsplit("/", 1)[-1])


def setup(app):
    app.connect("config-inited", _on_config, priority=450)
    app.connect("source-read", _substitute)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
