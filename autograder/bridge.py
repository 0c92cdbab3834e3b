"""The one road between the grader and a student's kernel: plain data both ways, never code back.

The grader decides every verdict in its own process (see :mod:`autograder.checks`). To look at the
student's work it sends *requests* into the kernel: call this function with these arguments, read
this attribute, run this instructor-written experiment. The kernel answers with plain data:
JSON whose only non-JSON values are arrays as ``.npy`` bytes, read back with
``numpy.load(allow_pickle=False)``. Nothing that comes back can run code in the grader, and nothing
the notebook patched (``torch.allclose``, tensor methods, builtins, ``sys.modules``, display
formatters) can change a verdict: at worst it garbles the data, and garbled data fails the check.

Wire format (both directions)::

    None, bool, int, float, str              themselves (floats may be NaN/Infinity)
    {"t": "list"|"tuple", "v": [...]}        sequences
    {"t": "dict", "v": [[key, value], ...]}  mappings (any encodable keys)
    {"t": "nd", "b": BASE64_NPY}             a NumPy array
    {"t": "tensor", "b": BASE64_NPY|null, "dtype": "float32", "shape": [...], "device": "cpu",
     "requires_grad": bool, "grad_fn": "MulBackward0"|null}
                                             a torch tensor (bfloat16/half travel as float32; a meta
                                             tensor travels without data)
    {"t": "dtype"|"device"|"size", "v": ...} torch.dtype, torch.device, torch.Size
    {"t": "obj", "h": N, "type": "mod.Class", "repr": "..."}
                                             anything else stays in the kernel: a handle
    {"t": "error", "type": "ValueError", "message": "..."}   the student's code raised

:class:`KernelLink` sends requests through a Jupyter kernel client (``user_expressions``, which
bypasses the notebook's input and AST transformers); :class:`LocalLink` answers them in this
process, for fast tests of the checks themselves. Both go through the same encoding.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Code run inside the kernel for every request. Self-contained: it imports what it needs and
#: keeps its handle table in ``sys.modules`` (a notebook that meddles with it only garbles its own
#: answers). ``REQUEST`` is bound to the request's JSON text; the answer is left in ``ANSWER``.
AGENT = r'''
import base64 as _b64, io as _io, json as _json, sys as _sys, traceback as _tb, types as _types
import numpy as _np

_state = _sys.modules.get("__grader_bridge__")
if _state is None:
    _state = _types.ModuleType("__grader_bridge__")
    _state.handles = {}
    _state.next = [1]
    _sys.modules["__grader_bridge__"] = _state

def _user_ns():
    if "NAMESPACE" in globals():          # answered in the grader's own process (LocalLink)
        return NAMESPACE
    from IPython import get_ipython
    shell = get_ipython()
    return shell.user_ns if shell is not None else _sys.modules["__main__"].__dict__

def _npy(array):
    buffer = _io.BytesIO()
    _np.save(buffer, _np.asarray(array), allow_pickle=False)
    return _b64.b64encode(buffer.getvalue()).decode()

def _unnpy(text):
    return _np.load(_io.BytesIO(_b64.b64decode(text)), allow_pickle=False)

def _handle(value):
    for number, known in _state.handles.items():
        if known is value:
            break
    else:
        number = _state.next[0]
        _state.next[0] += 1
        _state.handles[number] = value
    kind = type(value)
    return {"t": "obj", "h": number, "type": f"{kind.__module__}.{kind.__qualname__}", "repr": repr(value)[:200]}

def _encode(value, depth=0):
    torch = _sys.modules.get("torch")
    if depth > 50:
        raise ValueError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) in (int, bool):
        return value
    if isinstance(value, float) and type(value) is float:
        return value
    if isinstance(value, (_np.integer, _np.floating, _np.bool_)):
        return {"t": "nd", "b": _npy(_np.asarray(value))}
    if isinstance(value, _np.ndarray) and value.dtype != object:
        return {"t": "nd", "b": _npy(value)}
    if torch is not None:
        if isinstance(value, torch.Tensor):
            plain = torch.Tensor._make_subclass(torch.Tensor, value.detach(), False) \
                if type(value) is not torch.Tensor and type(value) is not torch.nn.Parameter else value.detach()
            info = {"t": "tensor", "dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape),
                    "device": str(value.device), "requires_grad": bool(value.requires_grad),
                    "grad_fn": type(value.grad_fn).__name__ if value.grad_fn is not None else None}
            if value.device.type == "meta":
                info["b"] = None
            else:
                data = plain.cpu()
                if data.dtype in (torch.bfloat16, torch.float16):
                    data = data.float()
                info["b"] = _npy(data.resolve_conj().resolve_neg().numpy())
            return info
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value).replace("torch.", "")}
        if isinstance(value, torch.device):
            return {"t": "device", "v": str(value)}
        if isinstance(value, torch.Size):
            return {"t": "size", "v": [int(v) for v in value]}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [_encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        return {"t": "dict", "v": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]}
    return _handle(value)

def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("t")
    if kind == "list":
        return [_decode(v) for v in value["v"]]
    if kind == "tuple":
        return tuple(_decode(v) for v in value["v"])
    if kind == "dict":
        return {_decode(k): _decode(v) for k, v in value["v"]}
    if kind == "nd":
        return _unnpy(value["b"])
    if kind == "obj":
        return _state.handles[value["h"]]
    import torch
    if kind == "dtype":
        return getattr(torch, value["v"])
    if kind == "device":
        return torch.device(value["v"])
    if kind == "size":
        return torch.Size(value["v"])
    if kind == "tensor":
        dtype = getattr(torch, value["dtype"])
        if value["b"] is None:
            tensor = torch.empty(value["shape"], dtype=dtype, device="meta")
        else:
            tensor = torch.from_numpy(_unnpy(value["b"]).copy()).to(dtype)
            if value.get("device", "cpu") != "cpu":
                tensor = tensor.to(value["device"])
        if value.get("requires_grad"):
            tensor.requires_grad_(True)
        return tensor
    raise ValueError(f"unknown value kind {kind!r}")

class _Student:
    """What an experiment sees of the notebook: its global names."""
    def __getattr__(self, name):
        ns = _user_ns()
        if name not in ns:
            raise NameError(f"name '{name}' is not defined in the notebook")
        return ns[name]
    def __contains__(self, name):
        return name in _user_ns()

def _target(spec):
    if "h" in spec:
        value = _state.handles[spec["h"]]
    else:
        value = getattr(_Student(), spec["name"])
    for attr in spec.get("attrs", []):
        value = getattr(value, attr)
    return value

def _serve(request):
    op = request["op"]
    if op == "release":
        _state.handles.clear()
        return None
    if op == "run":
        namespace = {"__name__": "__grader_experiment__"}
        exec(compile(request["source"], "<grader experiment>", "exec"), namespace)
        return namespace[request["entry"]](_Student(), *_decode(request["args"]), **_decode(request["kwargs"]))
    target = _target(request["target"])
    if op == "get":
        return target
    if op == "call":
        return target(*_decode(request["args"]), **_decode(request["kwargs"]))
    if op == "list":
        return list(target)
    if op == "has":
        return request["target"].get("name") in _Student() if "name" in request["target"] else True
    raise ValueError(f"unknown request {op!r}")

try:
    _request = _json.loads(REQUEST)
    try:
        _value = _serve(_request)
    except BaseException as _err:
        if isinstance(_err, KeyboardInterrupt):
            raise
        _frames = _tb.extract_tb(_err.__traceback__)
        _where = [f for f in _frames if f.filename.startswith("<ipython-input") or f.filename.startswith("/tmp/ipykernel")]
        _line = f" (notebook line: {_where[-1].line.strip()})" if _where and _where[-1].line else ""
        ANSWER = _json.dumps({"ok": False, "value": {"t": "error", "type": type(_err).__name__,
                                                     "message": (str(_err)[:500] + _line)}})
    else:
        ANSWER = _json.dumps({"ok": True, "value": _encode(_value)})
except BaseException as _err:
    if isinstance(_err, KeyboardInterrupt):
        raise
    ANSWER = _json.dumps({"ok": False, "value": {"t": "error", "type": "BridgeError",
                                                 "message": f"{type(_err).__name__}: {_err}"[:500]}})
'''


#: The answer travels under a MIME type of its own (the agent's ``_repr_mimebundle_``), so display
#: formatters a notebook installs for ``str`` (pretty printers, rich) cannot reshape it.
MIME = "application/vnd.dgm-grader-answer+json"
_WRAP = r'''
class _Answer:
    def __init__(self, text):
        self.text = text
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"%s": self.text}
WRAPPED = _Answer(ANSWER)
''' % MIME


class BridgeError(RuntimeError):
    """The kernel did not answer a request with well-formed data (it died, timed out, or the notebook
    interfered with the answer)."""


@dataclass(frozen=True)
class StudentError(Exception):
    """The student's code raised ``type`` with ``message`` while answering a request."""

    type: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True)
class TensorInfo:
    """What a tensor was in the kernel, beside its values (kept for checks that care)."""

    device: str
    requires_grad: bool
    grad_fn: str | None
    dtype: str


# ---------------------------------------------------------------------------- encoding (grader side)
def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def _unnpy(text: str) -> np.ndarray:
    array = np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)
    if array.dtype.hasobject:                        # np.load refuses these already; belt and braces
        raise BridgeError("object arrays are not data")
    return array


def encode(value: Any, depth: int = 0) -> Any:
    """Encode an argument sent to the kernel (see the module docstring); ``Remote`` becomes its handle."""
    import torch

    if depth > 50:
        raise ValueError("value nested too deeply")
    if isinstance(value, Remote):
        return value._spec_for_argument()
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_, np.ndarray)):
        return {"t": "nd", "b": _npy(np.asarray(value))}
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu()
        if data.dtype in (torch.bfloat16, torch.float16):
            data = data.float()
        return {"t": "tensor", "b": _npy(data.numpy()), "dtype": str(value.dtype).replace("torch.", ""),
                "shape": list(value.shape), "device": "cpu", "requires_grad": bool(value.requires_grad),
                "grad_fn": None}
    if isinstance(value, torch.dtype):
        return {"t": "dtype", "v": str(value).replace("torch.", "")}
    if isinstance(value, torch.device):
        return {"t": "device", "v": str(value)}
    if isinstance(value, torch.Size):
        return {"t": "size", "v": [int(v) for v in value]}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(f"cannot send a {type(value).__name__} to the kernel")


#: Tensors decoded from the kernel -> what they were there (device, autograd state).
_INFO: dict[int, TensorInfo] = {}


def tensor_info(tensor) -> TensorInfo | None:
    """Device and autograd state that ``tensor`` had in the kernel (None for grader-made tensors)."""
    return _INFO.get(id(tensor))


def decode(value: Any, link: "Link") -> Any:
    """Decode an answer: plain data, with objects left in the kernel as :class:`Remote` handles."""
    import torch

    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, list):
        return [decode(v, link) for v in value]
    if not isinstance(value, dict):
        raise BridgeError(f"unexpected value of type {type(value).__name__}")
    kind = value.get("t")
    if kind in ("list", "tuple"):
        items = [decode(v, link) for v in value["v"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {_hashable(decode(k, link)): decode(v, link) for k, v in value["v"]}
    if kind == "nd":
        return _unnpy(value["b"])
    if kind == "dtype":
        dtype = getattr(torch, str(value["v"]), None)
        if not isinstance(dtype, torch.dtype):
            raise BridgeError(f"unknown dtype {value['v']!r}")
        return dtype
    if kind == "device":
        return torch.device(str(value["v"]))
    if kind == "size":
        return torch.Size([int(v) for v in value["v"]])
    if kind == "tensor":
        dtype = getattr(torch, str(value["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise BridgeError(f"unknown dtype {value['dtype']!r}")
        shape = [int(v) for v in value["shape"]]
        if value.get("b") is None:
            tensor = torch.empty(shape, dtype=dtype, device="meta")
        else:
            array = _unnpy(value["b"])
            if list(array.shape) != shape:
                raise BridgeError("tensor data does not match its shape")
            tensor = torch.from_numpy(array.copy()).to(dtype)
        if value.get("requires_grad") and (tensor.is_floating_point() or tensor.is_complex()):
            tensor.requires_grad_(True)
        _INFO[id(tensor)] = TensorInfo(str(value.get("device", "cpu")), bool(value.get("requires_grad")),
                                       value.get("grad_fn") if isinstance(value.get("grad_fn"), str) else None,
                                       str(value["dtype"]))
        return tensor
    if kind == "obj":
        return Remote(link, {"h": int(value["h"])}, type_name=str(value.get("type", "")),
                      text=str(value.get("repr", "")))
    if kind == "error":
        raise StudentError(str(value.get("type", "Error")), str(value.get("message", "")))
    raise BridgeError(f"unknown value kind {kind!r}")


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


# ---------------------------------------------------------------------------- links
class Link:
    """Sends one request, returns the decoded answer (raising :class:`StudentError` for the
    student's exceptions and :class:`BridgeError` for anything malformed)."""

    def request(self, payload: dict) -> Any:
        raw = self._send(json.dumps(payload, allow_nan=True))
        try:
            answer = json.loads(raw)
            ok, value = answer["ok"], answer["value"]
        except (ValueError, TypeError, KeyError) as err:
            raise BridgeError(f"malformed answer from the kernel ({type(err).__name__})") from None
        result = decode(value, self)
        if not ok:
            raise BridgeError("malformed error answer from the kernel")
        return result

    def _send(self, request_json: str) -> str:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU time the notebook's process (and its children) has used so far, measured from outside."""
        raise NotImplementedError


class KernelLink(Link):
    """Requests through a Jupyter kernel client, as ``user_expressions`` (evaluated with no input or
    AST transformer, no history, no output). ``wait`` is ``(msg_id, timeout) -> reply`` of the
    executing preprocessor."""

    def __init__(self, client, wait, timeout: float, cpu=None):
        self.client, self.wait, self.timeout, self._cpu = client, wait, timeout, cpu

    def cpu_seconds(self) -> float:
        if self._cpu is None:
            raise BridgeError("the kernel's CPU time cannot be measured here")
        return self._cpu()

    def _send(self, request_json: str) -> str:
        # The agent runs in a dict of its own, not the notebook's namespace, so names the notebook
        # defined (compile, exec, json ...) do not reach it; only dunder builtins are looked up.
        expression = ("(lambda __ns: (__builtins__.exec(__builtins__.compile(__ns['SRC'], '<grader-bridge>', 'exec'), "
                      "__ns), __ns['WRAPPED'])[1])({'SRC': %r, 'REQUEST': %r, '__builtins__': __builtins__})"
                      % (AGENT + _WRAP, request_json))
        msg_id = self.client.execute("", silent=True, store_history=False, user_expressions={"a": expression})
        reply = self.wait(msg_id, self.timeout)
        try:
            answer = reply["content"]["user_expressions"]["a"]
            if answer.get("status") != "ok":
                raise BridgeError(f"the kernel could not answer: {answer.get('ename')}: {answer.get('evalue')}")
            text = answer["data"][MIME]
        except BridgeError:
            raise
        except Exception as err:  # a missing key or a garbled repr: the answer was interfered with
            raise BridgeError(f"malformed answer from the kernel ({type(err).__name__})") from None
        if not isinstance(text, str):
            raise BridgeError("malformed answer from the kernel (not text)")
        return text


class LocalLink(Link):
    """Answers requests in this process against ``namespace`` (a dict standing for the notebook's
    globals): the same agent code and encoding as a real kernel, for fast tests of checks."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def cpu_seconds(self) -> float:
        import time

        return time.process_time()

    def _send(self, request_json: str) -> str:
        env = {"REQUEST": request_json, "NAMESPACE": self.namespace, "__builtins__": __builtins__}
        exec(compile(AGENT, "<grader-bridge>", "exec"), env)
        return env["ANSWER"]


# ---------------------------------------------------------------------------- remote objects
class Remote:
    """An object living in the student's kernel: a global name, a handle, or an attribute of one.

    Calling it runs it there and returns plain data (objects come back as new ``Remote``s);
    attributes are resolved lazily (``pool.query`` is a ``Remote`` until called or fetched).
    """

    def __init__(self, link: Link, spec: dict, type_name: str = "", text: str = ""):
        self._link, self._spec, self.type_name, self._text = link, spec, type_name, text

    def __getattr__(self, attr: str) -> "Remote":
        if attr.startswith("__"):
            raise AttributeError(attr)
        spec = dict(self._spec, attrs=[*self._spec.get("attrs", []), attr])
        return Remote(self._link, spec)

    def __call__(self, *args, **kwargs):
        return self._link.request({"op": "call", "target": self._spec, "args": encode(list(args)),
                                   "kwargs": encode(kwargs)})

    def fetch(self):
        """The value itself, as data (or a handle if it is not data)."""
        return self._link.request({"op": "get", "target": self._spec})

    def items(self) -> list:
        """``list(obj)`` computed in the kernel, as data."""
        return self._link.request({"op": "list", "target": self._spec})

    def _spec_for_argument(self) -> dict:
        if "h" in self._spec and not self._spec.get("attrs"):
            return {"t": "obj", "h": self._spec["h"]}
        handle = self.fetch()
        if not isinstance(handle, Remote):
            return encode(handle)
        return {"t": "obj", "h": handle._spec["h"]}

    def __repr__(self) -> str:
        return f"<in the kernel: {self._text or self._spec}>"
