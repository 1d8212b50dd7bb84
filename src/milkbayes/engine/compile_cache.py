r"""nutpie's compiled model, with its C callbacks cached on disk across processes.

``nutpie.compile_pymc_model`` turns a PyMC model into two numba ``cfunc`` callbacks
(the log-density with its gradient, and the "expand" function that maps a draw to the
stored variables) that nutpie's Rust sampler calls. PyTensor caches the numba code of
the model's graph in its compile directory, but nutpie's callbacks around it are
compiled anew in every process, and that is most of a compile (numba typing the
wrapper and its shared-data extraction, then LLVM optimising the whole linked module
again; the figures are in ``benchmarks/bench_refit.py``).

numba can cache a ``cfunc`` (``cache=True``) but not nutpie's, for two reasons that
are not bugs in either library, only choices that do not fit together:

* nutpie names each shared variable by a fresh ``uuid4``, so the callback's record
  type, and with it the cache key, differs in every process;
* the callback is a closure over the inner function, and numba keys a closure's cache
  entry on the pickled cell contents (a numba dispatcher), which is neither stable
  nor cheap.

:func:`compile_pymc_model` therefore rebuilds what nutpie's numba backend builds
(``nutpie.compile_pymc._compile_pymc_model_numba``, nutpie 0.16) from nutpie's own
parts, with three changes: shared variables are named ``shared_0, shared_1, ...`` in
the order the compiled functions list them; each callback is generated from
source with its per-model values as module globals (no closure) and registered in
PyTensor's numba cache under an explicit key; and the function that reads the
shared values from nutpie's user-data record is generated too, one line per
variable (:func:`extraction_source`), where nutpie's unrolls a loop over them with
one numba specialisation per variable (about 0.1 s of compilation each, and slower
code: figures in ``benchmarks/README.md``). The sampler, the data layout and
``with_data`` are nutpie's, unchanged; the test suite checks that a fit is
bit-identical to one compiled by ``nutpie.compile_pymc_model`` under the same flags.

Notes
-----
**The key.** numba does not hash a function's globals, so everything the callback's
machine code depends on is in the key: PyTensor's own cache key of the compiled
function graph (it covers the graph, its rewrites and every constant, including the
design data that :mod:`milkbayes.engine.cache` freezes into the graph) with numba's fastmath
flag, the callback source, the number of unconstrained and stored values, the name,
dtype and shape of each shared variable, and the versions of nutpie, numba, llvmlite
and PyTensor. numba adds the signature and the CPU. When PyTensor has no key for a
graph (an operation it cannot cache) or its cache is switched off
(``pytensor.config.numba__cache``), the callback is compiled without caching, as
nutpie does.

**Where.** PyTensor's compile directory, ``<base_compiledir>/numba``
(``pytensor.config.base_compiledir``); deleting it empties this cache too. Entries
are written by numba under a temporary name and renamed, so concurrent processes
(the background worker of ``milkbayes reanalyze``) cannot read a half-written entry.
Each model and design compiled adds about 1 MB (the flagship's log-density
callback), beside PyTensor's own entries for the same graph; nothing is evicted, as
in PyTensor's cache. The entries are numba's (pickled compile results): see
"Untrusted entries" below.

**No fastmath.** The model is compiled with numba's fastmath flags off
(``pytensor.config.numba__fastmath``), whatever the configuration says. With them on,
LLVM may contract and reassociate floating-point operations, and it does so
differently for code compiled in this process (the callback linked with freshly
compiled graph functions) and for code loaded from the cache: the gradients of a
process that found the cache empty and of one that found it full differ in the last
bits, and over a long chain that is a different posterior for the same seed.
Without fastmath every operation is rounded as IEEE 754 prescribes, wherever the
code was compiled, so a fit's draws do not depend on the cache.

**Untrusted entries.** numba loads a cache entry by unpickling it: a truncated or
empty entry (a full disk, a killed process) would fail on every later compile, and
an entry written by someone else would run their code. So each callback entry is
verified before numba reads it: an HMAC-SHA-256 of each of its files, keyed by a
per-user secret (32 random bytes in ``<base_compiledir>/milkbayes-callbacks.key``,
mode 0600), is written beside the entry when it is created, and an entry without a
matching HMAC is deleted and compiled anew. A cache folder, or key file, that is
not owned by the user or that others may write is not used at all (the callbacks
are compiled uncached). When numba or PyTensor fail to load one of their entries
anyway, the model is compiled once more with PyTensor's cache off. Each of these is
said once on stderr.

**Model records.** Even with both callbacks in the cache, a new process still had
PyTensor build the model's log-density, differentiate it, rewrite both graphs and
generate their numba source (``nutpie.compile_pymc._make_functions``), only to find
the machine code in the cache: most of a ``milkbayes fit`` of the flagship. So when
:func:`compile_pymc_model` is given a ``record_key`` (from
:func:`milkbayes.engine.cache.model_record_key`, which identifies the model's graph
by the code that builds it, its shapes and design, and the library versions), a
model compiled in full leaves a record, ``<base_compiledir>/milkbayes-models/<key>.json``:
the sizes and layout of the unconstrained vector and of the stored values, which
transforms apply, each shared variable's ``pm.Data`` name, dtype and shape, and the
cache keys of its two callbacks; with an HMAC under the secret below. A later
process assembles the compiled model from the record: the callbacks are loaded from
numba's cache (a callback's entry holds its whole machine code, the PyTensor
function it calls linked in, so the function itself is not needed), the shared
values are the model's own ``pm.Data``, and only nutpie's initial-point function is
compiled (it depends on the seed). Anything that does not match (no verified record,
a ``pm.Data`` of another dtype or shape, other free variables or initial-point
shapes, a callback missing from numba's cache) compiles the model in full, as
before. The draws are bit-identical either way (``tests/test_model_record.py``).

References
----------
.. [1] nutpie, ``nutpie/compile_pymc.py`` (https://github.com/pymc-devs/nutpie).
.. [2] numba documentation, "Cache sharing" and "Caching limitations"
   (https://numba.readthedocs.io/en/stable/developer/caching.html).

Examples
--------
>>> import pymc as pm, nutpie
>>> from milkbayes.engine.compile_cache import compile_pymc_model
>>> with pm.Model() as model:
...     mu = pm.Normal("mu", 0, 10)
...     _ = pm.Normal("y", mu, 1, observed=[1.0, 2.0, 3.0])
>>> compiled = compile_pymc_model(model)
>>> tree = nutpie.sample(compiled, draws=100, tune=100, chains=1, seed=1,
...                      progress_bar=False)
>>> tree.posterior["mu"].shape
(1, 100)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import sys
import warnings
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

CALLBACK_VERSION = "3"
"""Bump when the generated callbacks change in a way the source text does not show."""

NUTPIE_SERIES = "0.16."
"""The nutpie releases whose internals :func:`compile_pymc_model` rebuilds (the lock
file pins 0.16.11); under any other, it hands over to ``nutpie.compile_pymc_model``,
uncached, rather than guess at changed internals."""

KEY_FILE_NAME = "milkbayes-callbacks.key"
"""The per-user secret that keys the HMAC of each callback entry, in ``base_compiledir``."""

HMAC_SUFFIX = ".milkbayes-hmac"
"""The file beside each callback entry that holds the HMAC of its files."""

_SAID: set[str] = set()

# nutpie's callbacks (nutpie/compile_pymc.py, _make_c_logp_func and _make_c_expand_func,
# 0.16.11), with the closure's values turned into globals.
LOGP_SOURCE = """
def logp_callback(dim, x_, out_, logp_, user_data_):
    if dim != N_DIM:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_DIM,))
        logp = numba.carray(logp_, ())
        logp_val, grad = extract(x, user_data_)
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
"""

EXPAND_SOURCE = """
def expand_callback(dim, expanded, x_, out_, user_data_):
    if dim != N_DIM:
        return -1
    if expanded != N_EXPANDED:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_EXPANDED,))
        (values,) = extract(x, user_data_)
        out[...] = values
    except Exception:  # noqa: BLE001
        return -2
    return 0
"""


def compile_pymc_model(
    model: Any, var_names: Iterable[str] | None = None, *, record_key: str | None = None
) -> Any:
    """Compile ``model`` for nutpie, reusing callbacks compiled by earlier processes.

    The drop-in equivalent of ``nutpie.compile_pymc_model(model, var_names=...)``
    with the numba backend and nutpie's defaults (initial values at the support
    point, jittered for every free variable), compiled with numba's fastmath off so
    that the draws do not depend on what the cache held (module Notes).

    Parameters
    ----------
    model : pymc.Model
        The model to compile.
    var_names : iterable of str, optional
        The variables nutpie stores for each draw; all of them when omitted.
    record_key : str, optional
        A key that identifies ``model``'s graph before it is built
        (:func:`milkbayes.engine.cache.model_record_key`). With it, a model compiled
        before under the same key is assembled from its record and its cached
        callbacks, without PyTensor building and rewriting the log-density, its
        gradient and the expand function (module Notes, "Model records").

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        The compiled model: ``nutpie.sample`` and ``.with_data`` work as usual.

    See Also
    --------
    callback_cache_key : the key of a callback's cache entry.
    """
    from pytensor import config

    with config.change_flags(numba__fastmath=False):
        if record_key is not None and config.numba__cache:
            compiled = _from_record(model, var_names, record_key)
            if compiled is not None:
                return compiled
        try:
            return _compile(model, var_names, record_key)
        except Exception as error:  # noqa: BLE001 - retried uncached, then re-raised
            if not config.numba__cache:
                raise
            _say_once(
                "load",
                f"milkbayes: a compile-cache entry could not be loaded ({type(error).__name__}); "
                "compiling this model without the cache",
            )
        with config.change_flags(numba__cache=False):
            return _compile(model, var_names)


def _initial_point_fn(model: Any) -> Any:
    """The seeded initial-point function, built as nutpie builds it.

    Both the full compile and the record path need it, and they must agree, or a
    record-served model would start its chains elsewhere than a compiled one.
    """
    import nutpie.compile_pymc as nutpie_pymc
    from pymc.initial_point import make_initial_point_fn

    return nutpie_pymc._wrap_with_lock(
        make_initial_point_fn(
            model=model,
            overrides=None,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )


def _compile(model: Any, var_names: Iterable[str] | None, record_key: str | None = None) -> Any:
    """:func:`compile_pymc_model` under the flags its caller set."""
    import nutpie
    import nutpie.compile_pymc as nutpie_pymc

    if not nutpie.__version__.startswith(NUTPIE_SERIES):
        return nutpie.compile_pymc_model(model, var_names=var_names)

    initial_point = _initial_point_fn(model)
    (
        n_dim,
        n_expanded,
        logp_fn,
        expand_fn,
        flat_initial_point,
        shape_info,
        reparameterized_names,
    ) = nutpie_pymc._make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=initial_point,
        var_names=var_names,
    )

    shared_data, shared_var_keys = _shared_data(logp_fn, expand_fn)
    user_data = nutpie_pymc.make_user_data(shared_var_keys, shared_data)
    shared = _Shared(shared_data, shared_var_keys, user_data)
    logp_callback, logp_key = _callback(LOGP_SOURCE, "logp_callback", logp_fn, shared, N_DIM=n_dim)
    expand_callback, expand_key = _callback(
        EXPAND_SOURCE, "expand_callback", expand_fn, shared, N_DIM=n_dim, N_EXPANDED=n_expanded
    )
    if record_key is not None and logp_key is not None and expand_key is not None:
        _write_record(
            record_key,
            model,
            var_names,
            shared,
            n_dim=n_dim,
            n_expanded=n_expanded,
            shape_info=shape_info,
            reparameterized_names=reparameterized_names,
            callbacks={"logp_callback": logp_key, "expand_callback": expand_key},
        )
    dims, coords = nutpie_pymc._prepare_dims_and_coords(model, shape_info, reparameterized_names)
    return nutpie_pymc.CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_callback,
        compiled_expand_func=expand_callback,
        initial_point_func=flat_initial_point,
        shared_data=shared_data,
        shared_var_keys=shared_var_keys,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn,
        expand_func=expand_fn,
        reparameterized_names=reparameterized_names,
    )


class _Shared:
    """The shared variables of both functions: values, keys and nutpie's record."""

    def __init__(self, data: dict, keys: dict, user_data: np.ndarray) -> None:
        self.data, self.keys, self.user_data = data, keys, user_data
        self.layout = tuple((key, value.dtype.str, value.shape) for key, value in data.items())


def _shared_data(logp_fn: Any, expand_fn: Any) -> tuple[dict, dict]:
    """Each shared variable's value under a stable name (nutpie draws a uuid4 per process)."""
    data: dict[str, np.ndarray] = {}
    keys: dict[Any, str] = {}
    for variable in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if variable in keys:
            continue
        key = f"shared_{len(keys)}"
        value = np.array(variable.get_value(), order="C", copy=True)
        value.flags.writeable = False
        data[key], keys[variable] = value, key
    return data, keys


def callback_cache_key(
    source: str, graph_key: str | None, layout: tuple, keys: list[str], constants: dict[str, int]
) -> str | None:
    """The cache key of one callback, or None when its graph cannot be cached.

    Examples
    --------
    >>> a = callback_cache_key("src", "graph", (("shared_0", "<f8", (3,)),), ["shared_0"],
    ...                        {"N_DIM": 2})
    >>> a == callback_cache_key("src", "graph", (("shared_0", "<f8", (4,)),),
    ...                         ["shared_0"], {"N_DIM": 2})
    False
    >>> callback_cache_key("src", None, (), [], {}) is None
    True
    """
    if graph_key is None:
        return None
    versions = tuple(version(package) for package in ("nutpie", "numba", "llvmlite", "pytensor"))
    digest = hashlib.sha256()
    # The module's name joins the key: numba pickles the callback's environment by
    # module name, so an entry written under another name cannot be loaded back.
    for part in (
        CALLBACK_VERSION,
        __name__,
        source,
        graph_key,
        layout,
        tuple(keys),
        tuple(sorted(constants.items())),
        versions,
    ):
        digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _signature(name: str) -> Any:
    """The C signature nutpie's sampler calls the callback with (as in nutpie)."""
    from numba import types

    double_pointer = types.CPointer(types.double)
    if name == "logp_callback":  # (dim, x, gradient out, logp out, user data)
        return types.int64(
            types.uint64, double_pointer, double_pointer, double_pointer, types.voidptr
        )
    # (dim, n_expanded, x, values out, user data)
    return types.int64(types.uint64, types.uint64, double_pointer, double_pointer, types.voidptr)


def _callback(
    source: str, name: str, function: Any, shared: _Shared, **constants: int
) -> tuple[Any, str | None]:
    """The numba ``cfunc`` around one compiled PyTensor function, from the cache if there.

    Returns the callback and the key of its cache entry (None when it is not cached).
    """
    import numba
    from pytensor import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, NUMBA_CACHE_PATH

    inner = function.vm.jit_fn
    keys = [shared.keys[variable] for variable in function.get_shared()]
    extract, extract_source = _extraction_fn(inner, shared, keys)
    graph_key = CACHED_SRC_FUNCTIONS.get(inner.py_func)
    if graph_key is not None:  # numba's flags shape the machine code too
        graph_key = f"{graph_key}|fastmath={config.numba__fastmath}"
    key = (
        callback_cache_key(source + extract_source, graph_key, shared.layout, keys, constants)
        if config.numba__cache
        else None
    )
    folder = Path(NUMBA_CACHE_PATH)
    secret = _secret(folder.parent) if key is not None else None
    if key is not None and (secret is None or not _trusted_folder(folder)):
        _say_once(
            "untrusted",
            f"milkbayes: the compile cache {folder} is not owned by you or others may "
            "write to it; compiling without it",
        )
        key = None
    if key is not None:
        _drop_unverified(folder, name, key, secret)
    python_function = _callback_source(source, name, key, constants, extract)
    with warnings.catch_warnings():
        # as in nutpie: a graph holding a dynamic global compiles, uncached
        warnings.filterwarnings(
            "ignore", message="Cannot cache compiled function", category=numba.NumbaWarning
        )
        try:
            callback = numba.cfunc(_signature(name), cache=key is not None)(python_function)
        except Exception as error:  # noqa: BLE001 - an unreadable entry: compile afresh
            if key is None:
                raise
            _say_once(
                "load",
                f"milkbayes: the compile-cache entry of {name} could not be loaded "
                f"({type(error).__name__}); compiling it again",
            )
            _remove_entry(folder, name, key)
            return numba.cfunc(_signature(name), cache=False)(python_function), None
    if key is not None and not callback._cache_hits:
        _write_hmac(folder, name, key, secret)
    return callback, key


def extraction_source(keys: list[str], ndims: list[int]) -> str:
    """The numba source of the function that reads the shared values and calls ``inner``.

    One straight line per shared variable: its address, shape and dtype read from
    nutpie's user-data record (:func:`nutpie.compile_pymc.make_user_data`), then the
    compiled PyTensor function called with them in its own order. It reads what
    nutpie's ``make_extraction_fn`` reads, and passes the same arrays.

    Examples
    --------
    >>> print(extraction_source(["shared_0", "shared_1"], [0, 1]))
    def extract(x, user_data_):
        shared = numba.carray(user_data_, (), RECORD_DTYPE)["shared"]
        data = shared["data"]
        shape = shared["shape"]
        v0 = numba.carray(address_as_void_pointer(data["shared_0"][()]), (), DTYPE_0)
        s1 = shape["shared_1"]
        v1 = numba.carray(address_as_void_pointer(data["shared_1"][()]), (int(s1[0]),), DTYPE_1)
        return inner(x, v0, v1)
    <BLANKLINE>
    """
    lines = [
        "def extract(x, user_data_):",
        '    shared = numba.carray(user_data_, (), RECORD_DTYPE)["shared"]',
        '    data = shared["data"]',
        '    shape = shared["shape"]',
    ]
    for index, (key, ndim) in enumerate(zip(keys, ndims, strict=True)):
        if ndim:
            lines.append(f'    s{index} = shape["{key}"]')
        dims = "".join(f"int(s{index}[{axis}]), " for axis in range(ndim))
        dims = f"({dims[:-2]})" if ndim > 1 else f"({dims[:-1]})"
        lines.append(
            f'    v{index} = numba.carray(address_as_void_pointer(data["{key}"][()]), '
            f"{dims}, DTYPE_{index})"
        )
    lines.append(f"    return inner(x{''.join(f', v{index}' for index in range(len(keys)))})")
    return "\n".join(lines) + "\n"


def _extraction_fn(inner: Any, shared: _Shared, keys: list[str]) -> tuple[Any, str]:
    """The extraction function of :func:`extraction_source` for ``inner``, and its source."""
    import numba
    import nutpie.compile_pymc as nutpie_pymc
    from pytensor.link.numba.cache import compile_numba_function_src

    source = extraction_source(keys, [shared.data[key].ndim for key in keys])
    python_function = compile_numba_function_src(
        source,
        "extract",
        global_env={
            "__name__": __name__,
            "numba": numba,
            "inner": inner,
            "address_as_void_pointer": nutpie_pymc.address_as_void_pointer,
            "RECORD_DTYPE": shared.user_data.dtype,
            **{f"DTYPE_{index}": shared.data[key].dtype for index, key in enumerate(keys)},
        },
    )
    return numba.njit(inline="always")(python_function), source


def _say_once(topic: str, message: str) -> None:
    """Print ``message`` on stderr the first time ``topic`` comes up in this process."""
    if topic not in _SAID:
        _SAID.add(topic)
        print(message, file=sys.stderr)


def _owned_and_private(path: Path, *, mask: int) -> bool:
    """True when ``path`` belongs to this user and has none of the ``mask`` mode bits."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & mask


def _trusted_folder(folder: Path) -> bool:
    """The cache folder belongs to this user and no one else may write to it."""
    try:
        return _owned_and_private(folder, mask=stat.S_IWGRP | stat.S_IWOTH)
    except OSError:
        return False


def _secret(base: Path) -> bytes | None:
    """The HMAC key of this user (created on first use), or None when it cannot be trusted."""
    path = base / KEY_FILE_NAME
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return None
    else:
        with os.fdopen(handle, "wb") as stream:
            stream.write(secrets.token_bytes(32))
    try:
        if not _owned_and_private(path, mask=0o077):
            return None
        secret = path.read_bytes()
    except OSError:
        return None
    return secret if len(secret) == 32 else None


def _entry_files(folder: Path, name: str, key: str) -> list[Path]:
    """The files numba wrote for one callback entry (its index and its data files)."""
    return sorted(folder.glob(f"*.{name}-{key}.*"))


def _hmac_path(folder: Path, name: str, key: str) -> Path:
    return folder / f"{name}-{key}{HMAC_SUFFIX}"


def _digests(files: list[Path], secret: bytes) -> dict[str, str]:
    return {
        path.name: hmac.new(secret, path.read_bytes(), hashlib.sha256).hexdigest() for path in files
    }


def _write_hmac(folder: Path, name: str, key: str, secret: bytes) -> None:
    """Record the HMAC of the entry numba has just written."""
    from milkbayes.jsonio import dumps
    from milkbayes.storage import atomic_write_text

    files = _entry_files(folder, name, key)
    try:
        atomic_write_text(_hmac_path(folder, name, key), dumps(_digests(files, secret)))
    except Exception:  # noqa: BLE001 - an unrecorded entry is only recompiled next time
        return


def _drop_unverified(folder: Path, name: str, key: str, secret: bytes) -> None:
    """Delete the entry of ``key`` unless every one of its files matches its HMAC."""
    import json

    files = _entry_files(folder, name, key)
    if not files:
        return
    try:
        recorded = json.loads(_hmac_path(folder, name, key).read_text(encoding="utf-8"))
        verified = isinstance(recorded, dict) and all(
            hmac.compare_digest(str(recorded.get(file, "")), digest)
            for file, digest in _digests(files, secret).items()
        )
    except (OSError, ValueError):
        verified = False
    if not verified:
        _say_once(
            "unverified",
            f"milkbayes: a compile-cache entry in {folder} failed its check; recompiling it",
        )
        _remove_entry(folder, name, key)


def _remove_entry(folder: Path, name: str, key: str) -> None:
    for path in [*_entry_files(folder, name, key), _hmac_path(folder, name, key)]:
        path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- model records
RECORD_VERSION = "1"
"""Bump when the record's content or its use changes."""

RECORD_FOLDER_NAME = "milkbayes-models"
"""The folder of model records, in ``base_compiledir``."""


def _record_path(record_key: str) -> Path:
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    return Path(NUMBA_CACHE_PATH).parent / RECORD_FOLDER_NAME / f"{record_key}.json"


def _record_digest(payload: dict, secret: bytes) -> str:
    import json

    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def _free_value_names(model: Any) -> list[str]:
    """The value variables of the free variables, in the order nutpie joins them."""
    return [model.rvs_to_values[rv].name for rv in model.free_RVs]


def _write_record(
    record_key: str,
    model: Any,
    var_names: Iterable[str] | None,
    shared: _Shared,
    *,
    n_dim: int,
    n_expanded: int,
    shape_info: Any,
    reparameterized_names: list[str],
    callbacks: dict[str, str],
) -> None:
    """Keep what :func:`_from_record` needs to assemble this compiled model again.

    Nothing is recorded when a shared variable of the compiled functions is not one
    of the model's named ``pm.Data`` (it could not be found again by name), so such
    a model is always compiled in full.
    """
    from milkbayes.jsonio import dumps
    from milkbayes.storage import atomic_write_text

    data_vars = {var.name: var for var in model.data_vars}
    if any(data_vars.get(var.name) is not var for var in shared.keys):
        return
    names, slices, shapes = shape_info
    payload = {
        "version": RECORD_VERSION,
        "record_key": record_key,
        "var_names": None if var_names is None else list(var_names),
        "n_dim": int(n_dim),
        "n_expanded": int(n_expanded),
        "names": list(names),
        "slices": [[int(s.start), int(s.stop)] for s in slices],
        "shapes": [[int(n) for n in shape] for shape in shapes],
        "reparameterized_names": list(reparameterized_names),
        "shared": [
            [key, var.name, shared.data[key].dtype.str, list(shared.data[key].shape)]
            for var, key in shared.keys.items()
        ],
        "callbacks": callbacks,
    }
    path = _record_path(record_key)
    secret = _secret(path.parent.parent)
    if secret is None or not _trusted_folder(path.parent.parent):
        return
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        if not _trusted_folder(path.parent):
            return
        document = {"payload": payload, "hmac": _record_digest(payload, secret)}
        atomic_write_text(path, dumps(document))
    except Exception:  # noqa: BLE001 - an unrecorded model is only compiled in full next time
        return


def _read_record(record_key: str) -> dict | None:
    """The verified record of ``record_key``, or None (missing, altered, untrusted)."""
    import json

    path = _record_path(record_key)
    secret = _secret(path.parent.parent)
    if secret is None or not _trusted_folder(path.parent):
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        payload = document["payload"]
        verified = hmac.compare_digest(str(document["hmac"]), _record_digest(payload, secret))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not verified or payload.get("version") != RECORD_VERSION:
        return None
    if payload.get("record_key") != record_key:
        return None
    return payload


def has_record(record_key: str) -> bool:
    """True when a verified record of ``record_key`` exists (module Notes, "Model records").

    Examples
    --------
    >>> has_record("0" * 64)
    False
    """
    from pytensor import config

    return bool(config.numba__cache) and _read_record(record_key) is not None


def _from_record(model: Any, var_names: Iterable[str] | None, record_key: str) -> Any:
    """The compiled model assembled from its record and its cached callbacks, or None.

    None (compile in full) whenever anything does not match: no verified record, a
    ``pm.Data`` missing or of another dtype or shape, other free variables, an
    initial point of other shapes, or a callback that is not in numba's cache.
    """
    import nutpie
    import nutpie.compile_pymc as nutpie_pymc

    if not nutpie.__version__.startswith(NUTPIE_SERIES):
        return None
    record = _read_record(record_key)
    if record is None:
        return None
    if record["var_names"] != (None if var_names is None else list(var_names)):
        return None
    data_vars = {var.name: var for var in model.data_vars}
    shared_data: dict[str, np.ndarray] = {}
    shared_var_keys: dict[Any, str] = {}
    for key, name, dtype, shape in record["shared"]:
        variable = data_vars.get(name)
        if variable is None or not hasattr(variable, "get_value"):
            return None
        value = np.array(variable.get_value(), order="C", copy=True)
        if value.dtype.str != dtype or list(value.shape) != shape:
            return None
        value.flags.writeable = False
        shared_data[key], shared_var_keys[variable] = value, key
    n_dim, n_expanded = record["n_dim"], record["n_expanded"]
    names = record["names"]
    shapes = [tuple(shape) for shape in record["shapes"]]
    free = _free_value_names(model)
    if names[: len(free)] != free or sum(int(np.prod(s)) for s in shapes[: len(free)]) != n_dim:
        return None
    initial_point = _initial_point_fn(model)
    point = initial_point(0)
    if any(
        tuple(np.shape(point[name])) != shape
        for name, shape in zip(free, shapes[: len(free)], strict=True)
    ):
        return None
    flat_initial_point = nutpie_pymc._rv_dict_to_flat_array_wrapper(
        initial_point, names=free, shapes=shapes[: len(free)]
    )
    user_data = nutpie_pymc.make_user_data(shared_var_keys, shared_data)
    constants = {
        "logp_callback": (LOGP_SOURCE, {"N_DIM": n_dim}),
        "expand_callback": (EXPAND_SOURCE, {"N_DIM": n_dim, "N_EXPANDED": n_expanded}),
    }
    callbacks = {}
    for name, (source, values) in constants.items():
        callbacks[name] = _cached_callback(source, name, record["callbacks"][name], values)
        if callbacks[name] is None:
            return None
    slices = [slice(start, stop) for start, stop in record["slices"]]
    shape_info = (list(names), slices, shapes)
    reparameterized = list(record["reparameterized_names"])
    dims, coords = nutpie_pymc._prepare_dims_and_coords(model, shape_info, reparameterized)
    return nutpie_pymc.CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=callbacks["logp_callback"],
        compiled_expand_func=callbacks["expand_callback"],
        initial_point_func=flat_initial_point,
        shared_data=shared_data,
        shared_var_keys=shared_var_keys,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
        reparameterized_names=reparameterized,
    )


def _callback_source(
    source: str, name: str, key: str | None, constants: dict[str, int], extract: Any
) -> Any:
    """The Python function of a callback's numba source, ``extract`` being what it calls.

    One builder for the compiled and the record path, so that both produce the same
    cache key's code. ``__name__`` names an importable module: numba pickles the
    function's environment by module name, and a cache entry without one cannot be
    loaded back.
    """
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    return compile_numba_function_src(
        source,
        name,
        global_env={
            "__name__": __name__,
            "numba": numba,
            "np": np,
            "extract": extract,
            **constants,
        },
        cache_key=key,
    )


def _not_compiled(*args: Any) -> None:  # pragma: no cover - numba refuses to type it
    """Stands for the PyTensor function a callback loaded from the cache does not need."""
    raise RuntimeError("a callback without its compiled function")


def _cached_callback(source: str, name: str, key: str, constants: dict[str, int]) -> Any:
    """The callback of ``key`` loaded from numba's cache, or None when it is not there.

    A callback's cache entry holds its whole machine code, the compiled PyTensor
    function it calls included (numba links the callee into the caller's library),
    so it is loaded without that function: :func:`_not_compiled` stands for it, and
    numba refuses to compile it if the entry is missing.
    """
    import numba
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    folder = Path(NUMBA_CACHE_PATH)
    secret = _secret(folder.parent)
    if secret is None or not _trusted_folder(folder):
        return None
    _drop_unverified(folder, name, key, secret)
    if not _entry_files(folder, name, key):
        return None
    python_function = _callback_source(source, name, key, constants, _not_compiled)
    try:
        callback = numba.cfunc(_signature(name), cache=True)(python_function)
    except Exception:  # noqa: BLE001 - not in the cache after all: compile in full
        return None
    return callback if callback._cache_hits else None
