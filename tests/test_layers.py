"""Every module sits in exactly one layer of the import contract (pyproject.toml).

`lint-imports` (run by CI before the tests) checks that imports point down the layers, but only
for modules that are in a layer: a new module outside them would escape it. This test keeps the
list complete."""

from __future__ import annotations

import tomllib

from tests.pipeline_fixtures import REPO

CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
[_LAYERS] = [c["layers"] for c in CONFIG["contracts"] if c["type"] == "layers"]
# A layer may hold several modules, separated by ":" (they may import each other) or "|" (they may not).
LAYERS = [[name.strip() for name in layer.replace("|", ":").split(":")] for layer in _LAYERS]


def modules() -> list[str]:
    found = []
    for package in CONFIG["root_packages"]:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def layers_of(module: str) -> list[list[str]]:
    return [layer for layer in LAYERS if any(module == name or module.startswith(name + ".") for name in layer)]


def test_every_module_is_in_exactly_one_layer():
    # A root package's own __init__ holds nothing, so it needs no layer.
    loose = [m for m in modules() if len(layers_of(m)) != 1 and m not in CONFIG["root_packages"]]
    assert not loose, f"modules in no layer (or several): {loose}; add them to the layers in pyproject.toml"


def test_root_packages_hold_no_code():
    for package in CONFIG["root_packages"]:
        init = REPO / package / "__init__.py"
        if not layers_of(package) and init.exists():
            assert not init.read_text(encoding="utf-8").strip(), f"{init} is in no layer: keep it empty"
