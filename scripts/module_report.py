"""The package's shape, module by module: lines, largest definition, public names, imports.

    python scripts/module_report.py [PACKAGE_DIR] [--markdown]

For each module of ``celeba_lab`` (default: the one beside this script): its lines, its largest
definition (a function, a class, or a method counted apart from its class) with its length,
the number of names in its ``__all__``, and how many import statements sit inside functions
(each counted once). Then the import cycles between package modules, counting imports made
inside functions (they close a cycle at run time all the same). Exit status 1 when a module is
over ``--max-lines`` (default 800) or a cycle exists, so CI can hold the line.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = "celeba_lab"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def package_imports(tree: ast.AST, current: str, is_package: bool, modules: set[str]
                    ) -> list[tuple[str, bool]]:
    """(imported package module, inside a function?) for each import of a package module."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.extend((m, in_function) for m in _known(alias.name, modules))
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(child, current, is_package)
                for alias in child.names:
                    candidates = _known(f"{target}.{alias.name}", modules) or _known(target, modules)
                    found.extend((m, in_function) for m in candidates)
            elif not (isinstance(child, ast.If) and _is_type_checking(child.test)):
                visit(child, inner)
    visit(tree, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _known(name: str, modules: set[str]) -> list[str]:
    return [name] if name in modules else []


def local_imports(tree: ast.AST) -> int:
    """Import statements inside functions (of any module: keras, pandas, the package...)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return len(inside)


def largest_definition(tree: ast.AST) -> tuple[str, int]:
    best = ("-", 0)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            length = node.end_lineno - node.lineno + 1
            if isinstance(node, ast.ClassDef):      # a class counts without its methods
                length -= sum(m.end_lineno - m.lineno + 1 for m in node.body
                              if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)))
            if length > best[1]:
                best = (node.name, length)
    return best


def public_names(tree: ast.AST) -> int:
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                try:
                    return len(ast.literal_eval(node.value))
                except ValueError:
                    return -1
    return 0


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of modules (more than one, or one importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?",
                        default=str(Path(__file__).resolve().parents[1] / PACKAGE))
    parser.add_argument("--max-lines", type=int, default=800)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.package)
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root): f for f in files}
    names = set(modules)
    # `import celeba_lab.x` of a package module also imports its parents' __init__: the graph
    # keeps only what each module names, which is what a reader follows.
    graph: dict[str, set[str]] = {}
    rows = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        imports = package_imports(tree, name, path.name == "__init__.py", names)
        graph[name] = {m for m, _ in imports if m != name}
        local = local_imports(tree)
        lines = len(path.read_text().splitlines())
        rows.append((name, lines, *largest_definition(tree), public_names(tree), local))
    total = sum(r[1] for r in rows)
    if args.markdown:
        print("| module | lines | largest definition | public names | imports in functions |")
        print("|---|---:|---|---:|---:|")
        for name, lines, big, big_lines, public, local in rows:
            print(f"| `{name}` | {lines} | `{big}` ({big_lines}) | {public} | {local} |")
    else:
        print(f"{'module':38} {'lines':>6}  {'largest definition':34} {'public':>6} {'local':>5}")
        for name, lines, big, big_lines, public, local in rows:
            print(f"{name:38} {lines:6d}  {big[:26]:26} ({big_lines:4d}) {public:6d} {local:5d}")
    print(f"\n{len(rows)} modules, {total} lines, "
          f"{sum(max(r[4], 0) for r in rows)} names in __all__")
    found = cycles(graph)
    for group in found:
        print("import cycle: " + " <-> ".join(group))
    if not found:
        print("no import cycle")
    over = [r[0] for r in rows if r[1] > args.max_lines]
    for name in over:
        print(f"over {args.max_lines} lines: {name}")
    return 1 if found or over else 0


if __name__ == "__main__":
    sys.exit(main())
