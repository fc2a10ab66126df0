"""PEP 562 lazy exports: a package finds a public name in one of its submodules on first use.

This keeps ``import seglab.x`` cheap and lets each chapter's module be added without editing the package's
``__init__``.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, submodules: list[str]):
    """Return ``(__getattr__, __dir__)`` for ``package``: a name is found in the first submodule whose
    ``__all__`` lists it (every submodule declares ``__all__``)."""

    def _modules():
        for sub in submodules:
            try:
                yield importlib.import_module(f"{package}.{sub}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{sub}":
                    raise

    def __getattr__(name: str):
        if not name.startswith("_"):
            for module in _modules():
                if name in getattr(module, "__all__", ()):
                    return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        names = set()
        for module in _modules():
            names.update(getattr(module, "__all__", ()))
        return sorted(names)

    return __getattr__, __dir__
