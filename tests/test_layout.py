"""The package's layout: each sub-package says what it holds, exports names explicitly, and no
export hides a module of the same name (``from defian.data import imresize`` must be the module)."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import defian
from defian import paths

SUBPACKAGES = sorted(m.name for m in pkgutil.iter_modules(defian.__path__) if m.ispkg)


def test_the_tree_shows_its_rooms() -> None:
    assert {"nn", "kernels", "data", "train", "report", "runner"} <= set(SUBPACKAGES)


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_documents_and_exports_explicitly(name: str) -> None:
    pkg = importlib.import_module(f"defian.{name}")
    assert pkg.__doc__ and len(pkg.__doc__.split()) > 10, f"defian.{name} says nothing of what it holds"
    assert isinstance(pkg.__all__, list)
    for export in pkg.__all__:
        assert hasattr(pkg, export), f"defian.{name}.__all__ names {export!r}, which it does not define"
    modules = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    for module in modules - {"__main__"}:
        importlib.import_module(f"defian.{name}.{module}")
        value = getattr(pkg, module)
        assert isinstance(value, types.ModuleType), f"defian.{name}.{module} is shadowed by an export ({value!r})"


#: The model code of Parts II and III (their training and study modules may call accelerate()).
MODEL_MODULES = ("ikm/attention.py", "ikm/backbones.py", "ikm/fast.py", "ikm/operator.py", "ikm/uhdn.py",
                 "lfr/asdn.py", "lfr/head.py", "lfr/levels.py", "lfr/model.py", "lfr/resample.py")


def test_nn_chooses_no_fast_path() -> None:
    """The reference and model modules import nothing from the accelerators (the choice is defian.kernels')."""
    import ast
    from pathlib import Path

    root = Path(defian.__file__).parent
    for path in [*root.joinpath("nn").glob("*.py"), *(root / m for m in MODEL_MODULES)]:
        tree = ast.parse(path.read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith("defian.kernels")], path.name


def test_test_modules_have_unique_names() -> None:
    """pytest's rootdir import mode needs one basename per test module (tests/ has no __init__.py files)."""
    names = [p.name for p in (paths.ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
