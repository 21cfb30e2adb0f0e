"""The layout docs and headers describe is the layout there is: every C
file in tls_nss.h's map, in an order where each calls only files before it
(no circle between the C files), and no import circle in the package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
SRC = ROOT / "src"
PACKAGE = ROOT / "python" / "tls_nss"


def _map() -> list[str]:
    header = (SRC / "tls_nss.h").read_text()
    comment = header[:header.index("*/")]
    return re.findall(r"^ \*   (\w+\.c)\b", comment, re.M)


def _calls() -> dict[str, set[str]]:
    """Which other C files each C file uses: functions it calls and type
    specs it refers to, by where they are defined."""
    defined = {}
    for path in SRC.glob("*.c"):
        text = path.read_text()
        for name in re.findall(r"^(tls_nss_\w+)\(", text, re.M):
            defined[name] = path.name
        for name in re.findall(r"^PyType_Spec (tls_nss_\w+)", text, re.M):
            defined[name] = path.name
    for path in SRC.glob("*.c"):  # specs made by the subtype macro
        for name in re.findall(r"TLS_NSS_CONNECTION_SUBTYPE\((tls_nss_\w+)", path.read_text()):
            defined[name] = path.name
    uses = {}
    for path in SRC.glob("*.c"):
        names = set(re.findall(r"\b(tls_nss_\w+)\b", path.read_text()))
        uses[path.name] = {defined[n] for n in names if n in defined} - {path.name}
    return uses


def test_every_c_file_is_in_the_map_once():
    listed = _map()
    assert sorted(listed) == sorted(p.name for p in SRC.glob("*.c")), listed
    assert len(listed) == len(set(listed))


def test_each_c_file_calls_only_the_layers_before_it():
    listed, uses = _map(), _calls()
    for position, name in enumerate(listed):
        later = uses[name] - set(listed[:position])
        assert not later, f"{name} uses {sorted(later)}, listed after it"


def _imports() -> dict[str, set[str]]:
    """The package's modules and the package modules each imports, at its
    top or inside a function: a deferred import is a circle still. Read
    from the text (relative imports, one per line, as the package writes
    them), not with ast, whose parser the test runner's deep stacks can
    upset on Python 3.11."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        found = set()
        for module, names in re.findall(r"^\s*from \.(\w*) import \(?([\w, ]*)",
                                        path.read_text(), re.M):
            if module:
                found.add(module)
            else:
                found.update(name.strip() for name in names.split(","))
        graph[path.stem] = {m for m in found if m in modules and m != path.stem}
    return graph


def test_the_package_has_no_import_circle():
    graph = _imports()

    def visit(module: str, path: tuple[str, ...]) -> None:
        for imported in graph[module]:
            assert imported not in path, " -> ".join(path + (module, imported))
            visit(imported, path + (module,))

    for module in graph:
        if module != "__init__":
            visit(module, ())


def test_the_design_map_names_every_file():
    design = (ROOT / "docs" / "design.md").read_text()
    missing = [p.name for p in SRC.glob("*.c") if p.name not in design]
    missing += [p.name for p in PACKAGE.glob("*.py") if p.name not in design]
    assert not missing, f"docs/design.md does not name {missing}"
