"""The layout's rules, checked on the source (docs/architecture.md): imports go one way
between the packages (features <- augment <- engine <- serving) and between serving's
rooms (reports <- jobs <- api <- cli), no module imports another's private name, and no
import cycle exists, counting imports inside functions too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("features", "augment", "engine", "serving")
ROOMS = ("reports", "jobs", "api", "cli")  # inside serving, each may import those before it


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import statement, module
    level or nested, resolved to a module of ours where it is one."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # `from pkg import module`
                    yield sub, [], node.lineno
                else:
                    yield base, [alias.name], node.lineno


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _rank(module: str) -> tuple[int, int]:
    parts = module.split(".")
    package = PACKAGES.index(parts[0])
    room = ROOMS.index(parts[1]) + 1 if parts[0] == "serving" and len(parts) > 1 \
        and parts[1] in ROOMS else 0
    return package, room


def test_imports_go_one_way_between_packages_and_serving_rooms() -> None:
    wrong = []
    for name, targets in _edges().items():
        for target in targets:
            (src_pkg, src_room), (dst_pkg, dst_room) = _rank(name), _rank(target)
            if dst_pkg > src_pkg or (dst_pkg == src_pkg == PACKAGES.index("serving")
                                     and dst_room > src_room):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle_counting_imports_inside_functions() -> None:
    graph = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_imports_another_modules_private_name() -> None:
    wrong = []
    for name, path in MODULES.items():
        for target, names, line in _imports(name, path):
            if target in MODULES and target != name and not target.startswith(name + "."):
                wrong += [f"{path.relative_to(ROOT)}:{line} takes {n} from {target}"
                          for n in names if n.startswith("_") and not n.startswith("__")]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_library_modules_stay_a_few_hundred_lines(package: str) -> None:
    # past ~600 lines a module needs a reason; these have one (docs/architecture.md)
    allowed: dict[str, str] = {}
    long = {str(p.relative_to(ROOT)): n for name, p in MODULES.items()
            if name.split(".")[0] == package
            and (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert set(long) <= set(allowed), f"modules over 600 lines: {long}"


def test_code_points_to_the_projects_own_design_document() -> None:
    assert (ROOT / "docs" / "architecture.md").is_file()
    cited = [str(p.relative_to(ROOT)) for p in MODULES.values()
             if "DESIGN.md" in p.read_text(encoding="utf-8")]
    assert not cited, f"modules citing a DESIGN.md outside the repository: {cited}"
