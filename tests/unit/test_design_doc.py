"""docs/DESIGN.md must not drift from the code: every name it cites in backticks exists.

It once named ``release(...)``, ``deliver_digest`` and ``resolve_secret`` in places
where they no longer were. Three kinds of citation are checked:

* ``mailguard.a.b.Name.attr`` -- imported and looked up attribute by attribute;
* ``Name.attr`` (a class, then attributes) -- some mailguard module defines ``Name``
  with that attribute;
* ``pipeline/scan.py`` -- the file exists under ``src/mailguard``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import mailguard

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "DESIGN.md"
DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def cited() -> list[str]:
    return sorted(set(re.findall(r"`([^`\n]+)`", DESIGN.read_text(encoding="utf-8"))))


def resolve_qualified(name: str) -> object:
    """Import the longest module prefix of ``name``, then walk the remaining attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError: the doc names something that is gone
        return obj
    raise ModuleNotFoundError(name)


def all_modules() -> list[ModuleType]:
    mods: list[ModuleType] = [mailguard]
    for info in pkgutil.walk_packages(mailguard.__path__, "mailguard."):
        if not info.name.endswith("__main__"):  # importing it would run the CLI
            mods.append(importlib.import_module(info.name))
    return mods


def test_design_cites_names_at_all() -> None:
    names = cited()
    assert any(n.startswith("mailguard.") for n in names)
    assert any(n.endswith(".py") for n in names)


@pytest.mark.parametrize("name", [n for n in cited() if n.startswith("mailguard.")])
def test_qualified_name_exists(name: str) -> None:
    assert DOTTED.match(name), f"{name!r}: cite a name, not a call"
    resolve_qualified(name)


@pytest.mark.parametrize(
    "name", [n for n in cited() if DOTTED.match(n) and n[0].isupper()]
)
def test_class_attribute_exists(name: str) -> None:
    head, *rest = name.split(".")
    owners = [getattr(m, head) for m in all_modules() if isinstance(getattr(m, head, None), type)]
    assert owners, f"no mailguard module defines a class {head!r}"

    def has(obj: object) -> bool:
        for i, attr in enumerate(rest):
            if i == len(rest) - 1 and attr in getattr(obj, "__dataclass_fields__", {}):
                return True  # a field with a default factory is no class attribute
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True

    assert any(has(o) for o in owners), f"{name!r}: no class {head} has that attribute"


@pytest.mark.parametrize("path", [n for n in cited() if re.fullmatch(r"[\w/]+\.py", n)])
def test_cited_file_exists(path: str) -> None:
    """``pipeline/scan.py`` must exist as such; a bare ``scan.py`` somewhere in the package."""
    src = ROOT / "src" / "mailguard"
    if "/" in path:
        assert (src / path).is_file(), path
    else:
        assert any(src.rglob(path)), path


def _calls() -> list[str]:
    """``func(...)`` and ``Class.method(...)``; ``instance.method(...)`` names no definition."""
    out = []
    for n in cited():
        m = re.match(r"^([A-Za-z_][\w.]*)\(", n)
        if m and ("." not in m.group(1) or m.group(1)[0].isupper()):
            out.append(n)
    return out


@pytest.mark.parametrize("call", _calls())
def test_cited_call_names_something_that_exists(call: str) -> None:
    """``release(...)``-style citations: the function (or Class.method) must exist."""
    name = call.split("(", 1)[0]
    head, *rest = name.split(".")
    found = False
    for m in all_modules():
        obj = getattr(m, head, None)
        if obj is None or not callable(obj):
            continue
        for attr in rest:
            obj = getattr(obj, attr, None)
        found = found or obj is not None
    assert found, f"{call!r}: no mailguard module defines {name}"
