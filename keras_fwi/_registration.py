"""Register keras_fwi's serialisable objects with Keras as soon as Keras is imported, not before.

A ``.keras`` file written by ``keras_fwi train`` (or the README example) names keras_fwi's loss,
metrics and learning-rate schedule as ``keras_fwi>L1L2Loss`` etc.; ``keras.saving.load_model`` finds
them only in Keras' registry of custom objects, which fills when the defining modules run
(``register_keras_serializable``). Importing those modules imports Keras, hence TensorFlow (seconds),
which ``import keras_fwi`` must not do: the CLI's ``--version`` and the TensorFlow-free ONNX runtime
never need them.

So ``import keras_fwi`` calls ``install()``:

- Keras already imported: the modules are imported at once (Keras' own cost is already paid).
- Otherwise a one-shot ``sys.meta_path`` finder waits for ``import keras`` and, when that module has
  finished executing, imports them. ``import keras_fwi`` itself stays at well under a millisecond.

Either way, ``import keras, keras_fwi`` (in any order) is all ``load_model`` needs.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import warnings

__all__ = ["SERIALIZABLE_MODULES", "install", "register_now"]

# Every module that defines a ``register_keras_serializable(package="keras_fwi")`` object a saved
# model can contain (a test checks that the list is complete).
SERIALIZABLE_MODULES = (
    "keras_fwi.training.losses",
    "keras_fwi.training.metrics",
    "keras_fwi.training.schedules",
)


def register_now() -> None:
    """Import every module in ``SERIALIZABLE_MODULES`` (this imports Keras)."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def _register_quietly() -> None:
    """``register_now``, but a failure only warns: it must never break the user's ``import keras``."""
    try:
        register_now()
    except Exception as error:  # noqa: BLE001 (any failure here would otherwise surface in `import keras`)
        warnings.warn(f"keras_fwi could not register its Keras objects ({type(error).__name__}: {error}); "
                      "load its models after `import keras_fwi.training`", RuntimeWarning, stacklevel=2)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of ``keras`` so registration follows its import."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        _uninstall()  # one shot; and the search below must not find this finder again
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_module(module):
            execute(module)
            _register_quietly()

        loader.exec_module = exec_module  # this loader instance serves this one module only
        return spec


_FINDER = _AfterKerasImport()


def _uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def install() -> None:
    """Make Keras know keras_fwi's objects: now if Keras is loaded, else right after ``import keras``."""
    if "keras" in sys.modules:
        _register_quietly()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
