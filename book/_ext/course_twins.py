"""Kernel-free interactive figures in the book (see ``coursekit.widgets.static_twin``).

Adds the script and stylesheet that drive the twins (served from ``book/_static``, like every
other file of the book: no CDN). The live ipywidgets cannot run without a kernel; their loader
scripts, which myst-nb would fetch from CDNs, are switched off in ``_config.yml``
(``nb_ipywidgets_js: {}``).
"""


def setup(app):
    app.add_js_file("course-twin.js", loading_method="defer")
    app.add_css_file("course-twin.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
