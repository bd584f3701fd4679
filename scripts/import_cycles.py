"""Report import cycles between the modules of a package (by default ``celeba_lab``).

Every ``import``/``from`` statement of every module is read from the source (nothing is
imported), at any depth: top-level imports and function-local ones alike, since a local import
closes a cycle as surely when its function runs. Imports under ``if TYPE_CHECKING:`` are left
out (they never run). Each edge ``a -> b`` means that module ``a`` imports module ``b`` of the
same package; ``from . import x`` counts as importing the submodule ``x`` when there is one.

Usage::

    python scripts/import_cycles.py              # the celeba_lab package beside this script
    python scripts/import_cycles.py PATH/TO/PKG  # any package folder (e.g. an older checkout)

Prints each cycle (every elementary cycle, as ``a -> b -> ... -> a`` with where each import is
written) and exits with status 1 if there is any, 0 (saying "no import cycles") otherwise.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_CYCLES = 500    # printed at most (a tangle of modules can hold very many)


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (``pkg.sub`` for ``sub/__init__``)."""
    root = package.name
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([root, *parts])] = path
    return names


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST):
    """The import statements of a module with whether each is local (inside a def or class)."""
    def walk(node: ast.AST, local: bool):
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                for orelse in child.orelse:
                    yield from walk(orelse, local)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, local
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                ast.ClassDef, ast.Lambda))
            yield from walk(child, inner)
    yield from walk(tree, False)


def edges(package: Path) -> dict[str, dict[str, list[str]]]:
    """``{a: {b: ["file:line (local)", ...]}}`` for every import of module b by module a."""
    names = module_names(package)
    graph: dict[str, dict[str, list[str]]] = {name: {} for name in names}
    for name, path in names.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, local in _imports(tree):
            where = f"{path.relative_to(package.parent)}:{node.lineno}" + \
                (" (local)" if local else "")
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
            for target in targets:
                # `import pkg.a.b` names pkg.a.b; `from pkg.a import b` names pkg.a or pkg.a.b
                while target and target not in names:
                    if "." not in target:
                        target = ""
                        break
                    target = target.rsplit(".", 1)[0]
                if target and where not in graph[name].setdefault(target, []):
                    graph[name][target].append(where)
    # `from . import x` in a package's __init__ also names the package itself: no edge.
    for name in graph:
        graph[name].pop(name, None)
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Every elementary cycle, each starting at its smallest module name (at most MAX_CYCLES)."""
    found: list[list[str]] = []
    order = sorted(graph)
    for start in order:
        # Cycles through `start` among modules not before it: each cycle is found once.
        allowed = {m for m in order if m >= start}
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        on_path = {start}
        while stack and len(found) < MAX_CYCLES:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            if child == start:
                found.append(path + [start])
            elif child in allowed and child not in on_path:
                path.append(child)
                on_path.add(child)
                stack.append((child, iter(sorted(graph[child]))))
    return found


def main(argv: list[str]) -> int:
    package = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / \
        "celeba_lab"
    if not (package / "__init__.py").is_file():
        print(f"{package} is not a package folder (no __init__.py).", file=sys.stderr)
        return 2
    graph = edges(package.resolve())
    found = cycles(graph)
    if not found:
        print(f"no import cycles among the {len(graph)} modules of {package.name}")
        return 0
    for cycle in found:
        print(" -> ".join(cycle))
        for a, b in zip(cycle, cycle[1:]):
            print(f"    {a} -> {b}: {', '.join(graph[a][b])}")
    more = " (the first ones; there may be more)" if len(found) >= MAX_CYCLES else ""
    print(f"{len(found)} import cycle{'s' * (len(found) != 1)}{more} among the "
          f"{len(graph)} modules of {package.name}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
