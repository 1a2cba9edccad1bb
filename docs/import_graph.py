"""Draw the core's package-level import graph and check it against the layer contract.

    python docs/import_graph.py             # text: layers, edges, cycles (exit 1 on a problem)
    python docs/import_graph.py --mermaid   # the same graph as a Mermaid diagram
    python docs/import_graph.py --dot       # or as Graphviz dot

The graph is grimp's (the library behind lint-imports): every import in the source,
at module level or inside a function, collapsed to the children of ``handpose_core``
(``handpose_core.nets.joints`` counts as ``nets``). The layers are read from the
``layers`` contract in pyproject.toml. Checked here, as lint-imports checks them: no
cycle among the packages or among the modules of one package, and no import from a
layer to a higher one or between two packages of one layer.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import grimp

REPO = Path(__file__).resolve().parents[1]
ROOT = "handpose_core"


def read_layers(pyproject: Path = REPO / "pyproject.toml") -> list[list[str]]:
    """The core's layers, top first, each a list of sibling names."""
    cfg = tomllib.loads(pyproject.read_text())
    for c in cfg["tool"]["importlinter"]["contracts"]:
        if c.get("type") == "layers" and c.get("containers") == [ROOT]:
            return [[n.strip() for n in layer.split("|")] for layer in c["layers"]]
    raise SystemExit(f"{pyproject}: no layers contract over {ROOT}")


def build_graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(REPO))  # this checkout's package, not an installed one
    return grimp.build_graph(ROOT, cache_dir=None)


def child(module: str) -> str | None:
    """``handpose_core.nets.joints`` -> ``nets``; the root package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def package_edges(graph: grimp.ImportGraph) -> dict[tuple[str, str], int]:
    """``(importer, imported)`` children of the root -> number of module imports."""
    edges: dict[tuple[str, str], int] = defaultdict(int)
    for m in graph.modules:
        for i in graph.find_modules_directly_imported_by(m):
            a, b = child(m), child(i)
            if a and b and a != b:
                edges[(a, b)] += 1
    return dict(edges)


def cycles(nodes, edges) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    adj = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Cycles among the modules of any one package (siblings), at any depth below the
    root (the root's children are :func:`package_edges`' nodes)."""
    found = []
    for pkg in sorted(m for m in graph.modules if graph.find_children(m) and m != ROOT):
        kids = graph.find_children(pkg)
        edges = set()
        for k in kids:
            for m in {k} | graph.find_descendants(k):
                for i in graph.find_modules_directly_imported_by(m):
                    target = next((c for c in kids if i == c or i.startswith(c + ".")), None)
                    if target and target != k:
                        edges.add((k, target))
        found += cycles(kids, edges)
    return found


def check(layers, edges, graph) -> list[str]:
    """Every problem the drawing should show: upward or sideways imports, cycles."""
    level = {name: n for n, layer in enumerate(layers) for name in layer}
    problems = []
    for (a, b), n in sorted(edges.items()):
        if a not in level or b not in level:
            problems.append(f"{a} -> {b}: {a if a not in level else b} has no layer")
        elif level[b] < level[a]:
            problems.append(f"{a} -> {b} ({n} imports): upwards, from layer {level[a] + 1} "
                            f"to layer {level[b] + 1}")
        elif level[b] == level[a]:
            problems.append(f"{a} -> {b} ({n} imports): between independent siblings")
    names = {child(m) for m in graph.modules} - {None}
    problems += [f"{name}: no layer" for name in sorted(names - set(level))]
    problems += [f"package cycle: {' <-> '.join(c)}" for c in cycles(names, edges)]
    problems += [f"module cycle: {' <-> '.join(c)}" for c in module_cycles(graph)]
    return problems


def text(layers, edges, problems) -> str:
    lines = ["Layers of handpose_core, top first (a package imports only those below it):", ""]
    for n, layer in enumerate(layers, 1):
        lines.append(f"{n:>2}. {' | '.join(layer)}")
    lines += ["", "Imports between packages (number of module-level and function-local imports):",
              ""]
    by_importer = defaultdict(list)
    for (a, b), n in sorted(edges.items()):
        by_importer[a].append(f"{b} ({n})")
    for layer in layers:
        for name in layer:
            if name in by_importer:
                lines.append(f"  {name:<12} -> {', '.join(by_importer[name])}")
    lines += ["", "No cycle, no upward import." if not problems else "PROBLEMS:"]
    lines += [f"  {p}" for p in problems]
    return "\n".join(lines)


def mermaid(layers, edges) -> str:
    """A top-down Mermaid flowchart: one row (subgraph) per layer, only the edges that
    are not implied by another path (transitive reduction), so it stays readable."""
    reduced = transitive_reduction(edges)
    out = ["flowchart TD"]
    for n, layer in enumerate(layers, 1):
        out.append(f'  subgraph L{n}["layer {n}"]')
        out.append("    direction LR")
        out += [f"    {name}" for name in layer]
        out.append("  end")
    out += [f"  {a} --> {b}" for a, b in sorted(reduced)]
    return "\n".join(out)


def dot(layers, edges) -> str:
    out = ["digraph handpose_core {", "  rankdir=TB; node [shape=box];"]
    for n, layer in enumerate(layers, 1):
        out.append(f"  {{ rank=same; {'; '.join(layer)}; }}  // layer {n}")
    out += [f'  {a} -> {b} [label="{k}"];' for (a, b), k in sorted(edges.items())]
    out.append("}")
    return "\n".join(out)


def transitive_reduction(edges) -> set[tuple[str, str]]:
    """The edges of a DAG that no longer path implies."""
    adj = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)

    def reachable(src, skip):
        seen, todo = set(), [w for w in adj[src] if (src, w) != skip]
        while todo:
            v = todo.pop()
            if v not in seen:
                seen.add(v)
                todo += adj[v]
        return seen

    return {(a, b) for a, b in edges if b not in reachable(a, (a, b))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    fmt.add_argument("--dot", action="store_true", help="print Graphviz dot")
    args = ap.parse_args(argv)
    graph = build_graph()
    layers, edges = read_layers(), package_edges(graph)
    problems = check(layers, edges, graph)
    if args.mermaid:
        print(mermaid(layers, edges))
    elif args.dot:
        print(dot(layers, edges))
    else:
        print(text(layers, edges, problems))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
