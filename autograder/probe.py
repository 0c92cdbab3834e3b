"""Kernel-side integrity probe. The grader sends this file's source to the student's kernel (as a
``user_expressions`` entry, which IPython evaluates without the input and AST transformers a
student could have installed) before and after every test cell, and compares the answers.

It reports, as JSON:

* ``ids``: the identity of every watched object (``torch.allclose``, ``numpy.testing.*``, the
  builtins tests use, the names test cells import) so that the grader sees any replacement;
* ``bad``: machinery that only a notebook tampering with the grading would install: input or AST
  transformers, custom exception handlers, event callbacks, trace functions, threads, patched
  methods of the shell, the kernel, builtins or tensor classes, whose code comes from the notebook
  rather than from installed packages;
* ``nonce``: the grader's random challenge, hashed, proving the probe itself ran unmodified.

The grader fills in ``WATCH``, ``NAMES``, ``TRUSTED`` and ``NONCE`` (see ``autograder.execution``).
This module is stdlib-only and never imported by the kernel.
"""
# ruff: noqa
# The grader runs this source with these names already set in its globals.
WATCH = globals().get("WATCH", [])        # dotted names whose identity is compared with the baseline
NAMES = globals().get("NAMES", {})        # user-namespace name -> dotted name it must still refer to
TRUSTED = globals().get("TRUSTED", [])    # folders of trusted code (environment prefixes, course package)
NONCE = globals().get("NONCE", "")
IMPORT = globals().get("IMPORT", [])      # modules imported first, so that their attributes are watched


def _probe():
    import builtins, functools, hashlib, importlib, json, os, sys, threading, types

    def code_file(obj, depth=0):
        """File of the Python code behind ``obj`` (None for C code)."""
        if depth > 3:
            return None
        if isinstance(obj, functools.partial):
            return code_file(obj.func, depth + 1)
        obj = getattr(obj, "__func__", obj)
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            return code.co_filename
        if isinstance(obj, type):
            for value in list(vars(obj).values()):
                if isinstance(value, (types.FunctionType, staticmethod, classmethod)):
                    found = code_file(getattr(value, "__func__", value), depth + 1)
                    if found and not trusted_file(found):
                        return found
            return None
        if not isinstance(obj, (types.BuiltinFunctionType, types.ModuleType, type(None), int, float, str)):
            return code_file(type(obj), depth + 1)
        return None

    def trusted_file(name):
        if name.startswith("<frozen") or name.startswith("<built-in"):
            return True
        path = os.path.abspath(name)
        return any(path.startswith(root) for root in TRUSTED)

    def untrusted(obj):
        name = code_file(obj)
        return name is not None and not trusted_file(name)

    def describe(obj):
        kind = type(obj).__name__
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", ""))
        where = code_file(obj)
        origin = "code from the notebook" if where and not trusted_file(where) else "installed code"
        return f"{kind} {name} ({origin})"

    def resolve(dotted):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            module = sys.modules.get(".".join(parts[:cut]))
            if module is not None:
                obj = module
                for part in parts[cut:]:
                    obj = getattr(obj, part, None)
                return obj
        return None

    for name in IMPORT:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    ids = {}
    for dotted in WATCH:
        obj = resolve(dotted)
        if obj is not None:
            ids[dotted] = [id(obj), describe(obj), untrusted(obj)]

    bad = []
    from IPython import get_ipython

    shell = get_ipython()
    user_ns = shell.user_ns
    for name, dotted in NAMES.items():
        if name in user_ns:
            value, expected = user_ns[name], resolve(dotted)
            # A star import of an installed library (numpy's abs, torch's max) is honest code.
            if value is not expected and (callable(value) or isinstance(value, types.ModuleType)) \
                    and untrusted(value):
                bad.append(f"the name {name} (used by the tests) was rebound to {describe(value)}")
    for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
        for hook in list(getattr(shell, attr, []) or []):
            if untrusted(hook):
                bad.append(f"IPython {attr} has a hook from the notebook ({describe(hook)})")
    manager = getattr(shell, "input_transformer_manager", None)
    for attr in ("cleanup_transforms", "line_transforms", "token_transformers"):
        for hook in list(getattr(manager, attr, []) or []):
            if untrusted(hook):
                bad.append(f"IPython input transformer from the notebook ({describe(hook)})")
    if getattr(shell, "custom_exceptions", ()):
        bad.append("a custom exception handler was installed (set_custom_exc)")
    for event, callbacks in getattr(getattr(shell, "events", None), "callbacks", {}).items():
        for callback in callbacks:
            if untrusted(callback):
                bad.append(f"IPython event '{event}' has a callback from the notebook")
    for label, func in (("trace", sys.gettrace()), ("profile", sys.getprofile())):
        if func is not None and untrusted(func):
            bad.append(f"a {label} function from the notebook is installed")
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if (target is not None and untrusted(target)) or (type(thread).run is not threading.Thread.run
                                                           and untrusted(type(thread))):
            bad.append(f"a thread started by the notebook is running ({thread.name})")
    kernel = getattr(shell, "kernel", None)
    for label, obj in (("shell", shell), ("kernel", kernel)):
        if obj is None:
            continue
        for key, value in list(vars(obj).items()):
            if callable(value) and not isinstance(value, type) and untrusted(value):
                bad.append(f"the {label}'s {key} was replaced by {describe(value)}")
        for cls in type(obj).__mro__:
            for key, value in list(vars(cls).items()):
                if isinstance(value, types.FunctionType) and untrusted(value):
                    bad.append(f"{cls.__name__}.{key} was replaced by {describe(value)}")
    for key, value in list(getattr(kernel, "shell_handlers", {}).items()):
        if untrusted(value):
            bad.append(f"the kernel's {key} handler was replaced")
    for key, value in list(vars(builtins).items()):
        if callable(value) and untrusted(value):
            bad.append(f"builtins.{key} was replaced by {describe(value)}")
    for dotted in ("torch.Tensor", "torch.nn.Module", "numpy.ndarray"):
        cls = resolve(dotted)
        if isinstance(cls, type):
            for key, value in list(vars(cls).items()):
                if isinstance(value, (types.FunctionType, property)) and untrusted(getattr(value, "fget", value)):
                    bad.append(f"{dotted}.{key} was replaced by code from the notebook")
    digest = hashlib.sha256(("probe:" + NONCE).encode()).hexdigest()
    return json.dumps({"nonce": digest, "ids": ids, "bad": sorted(set(bad))})


__result__ = _probe()
