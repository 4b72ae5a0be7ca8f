"""Imports run one way: no module under app/ imports from a layer above its own.

The rule and the picture are in docs/architecture.md. Layers, top to bottom:

    server  app/__init__.py, app/server.py (the composition root: builds and wires everything)
    web     app/web/          (HTTP handlers, pages, middlewares' answers)
    services app/services/    (the domain: inbox, outbox, messages, stats, tenants...)
    whatsapp app/whatsapp/    (providers: report into services through the ProviderSink)
    realtime app/realtime/    (stream, hub, sockets, long-polls)
    auth    app/auth/         (tokens, principals, users, sessions)
    db      app/db.py         (the single writer)
    leaf    every other module directly under app/ (config, errors, clock, jsonenc, http, keys...)

A module may import from its own layer and from any layer below it. Providers may import only
their own package and leaf modules: they touch no storage, no stream, no auth.
The walk reads source with `ast` (every `import`, in functions too) and imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

LAYERS = ("leaf", "db", "auth", "realtime", "whatsapp", "services", "web", "server")
RANK = {name: i for i, name in enumerate(LAYERS)}
PACKAGES = {"web", "services", "whatsapp", "realtime", "auth"}
TOP = {"app", "app.server"}
DB = {"app.db", "app.wal"}
# Layers a layer may import besides its own, when narrower than "everything below".
ONLY = {"whatsapp": {"leaf"}}
# keys.py names the type of every AppKey; those imports are for the type checker only and run
# nowhere, so this one module may name types of every layer under `if TYPE_CHECKING:`.
TYPE_ONLY_ALLOWED = {"app.keys"}


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module in TOP:
        return "server"
    if module in DB:
        return "db"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in PACKAGES:
        return parts[1]
    if len(parts) >= 3:  # a package no layer was chosen for: place it before using it
        raise AssertionError(f"{module}: package app.{parts[1]} has no layer in tests/test_layers.py")
    return "leaf"


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:]) if "." in module else Path()
    return (APP / rel).with_suffix(".py").is_file() or (APP / rel / "__init__.py").is_file()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(tree: ast.AST, *, skip_type_checking: bool) -> list[tuple[int, str]]:
    """(line, module) for every app module a tree imports."""
    skipped: set[int] = set()
    if skip_type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node):
                skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "app"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "app":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if _exists(sub) else node.module))
    return found


def violations() -> list[str]:
    out: list[str] = []
    for path in sorted(APP.rglob("*.py")):
        module = module_name(path)
        mine = layer_of(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in imported_modules(tree, skip_type_checking=module in TYPE_ONLY_ALLOWED):
            theirs = layer_of(target)
            if theirs == mine:
                continue
            allowed = ONLY.get(mine)
            upward = RANK[theirs] > RANK[mine]
            if upward or (allowed is not None and theirs not in allowed):
                where = f"app/{path.relative_to(APP)}:{line}"
                line_text = f"{where}: {module} ({mine}) imports {target} ({theirs})"
                if line_text not in out:
                    out.append(line_text)
    return out


def test_no_module_imports_from_a_layer_above_it() -> None:
    found = violations()
    assert not found, "imports against the layer rule (docs/architecture.md):\n" + "\n".join(found)


def test_the_walk_sees_upward_imports() -> None:
    """The checker itself: an upward import, in a function too, is found; a type-only one is not."""
    tree = ast.parse(
        "from app.realtime import stream\n"
        "def f():\n    from app.web.bodies import read_json\n"
        "if TYPE_CHECKING:\n    from app.services.inbox import Inbox\n"
    )
    seen = [m for _, m in imported_modules(tree, skip_type_checking=True)]
    assert seen == ["app.realtime.stream", "app.web.bodies"]
    assert [layer_of(m) for m in seen] == ["realtime", "web"]
    assert layer_of("app.clock") == "leaf" and layer_of("app.server") == "server"
    assert RANK["web"] > RANK["services"] > RANK["whatsapp"] > RANK["realtime"] > RANK["auth"]
    assert RANK["auth"] > RANK["db"] > RANK["leaf"]
