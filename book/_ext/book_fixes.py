"""Two small fixes for the Jupyter Book 1.x theme stack, found by the browser test.

* sphinx-thebe's inline configuration script (``const THEBE_JS_URL = ...``) is added twice, and
  the second copy is a JavaScript error on every page: keep one copy of each inline script.
* pydata-sphinx-theme logs "Got invalid theme mode" on a first visit when no default colour mode is
  set: default to ``auto`` (follow the reader's system setting).
"""


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        body = getattr(script, "attributes", {}).get("body") if not isinstance(script, str) else None
        if body:
            if body in seen:
                continue
            seen.add(body)
        kept.append(script)
    context["script_files"] = kept
    context.setdefault("default_mode", "auto")
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def setup(app):
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
