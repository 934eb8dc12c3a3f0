"""The shape of the house: dependencies point one way, inward.

The import graph of `src/trade_engine` is read from the source (every `import` and
`from ... import`, wherever it stands) and held against the layer list below: a package
may import its own layer and the layers to its left, never one to its right. The domain
and the engine import no other project package (the engine may import the domain), and
neither imports I/O, clocks or randomness. A checker that cannot fail proves nothing, so
it is also run on a small planted tree that breaks each rule.
"""

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "trade_engine"
ROOT = "trade_engine"

# Inner to outer. A package imports its own layer and those to its left.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("domain", "observability", "config"),
    ("engine",),
    ("sequencer",),
    ("storage",),
    ("core", "cluster"),
    ("readmodel", "marketdata"),
    ("edge",),
    ("api", "binance", "web", "ws"),
    ("app", "cli"),
)
PURE = ("domain", "engine")
# What the pure core must not touch: I/O, clocks, randomness.
IMPURE = ("asyncio", "socket", "sqlite3", "asyncpg", "time", "random", "datetime")
# The APIs read committed history only through the gateway (`Gateway.history()`, which
# waits until the tables hold the caller's writes), never by the query modules themselves.
APIS = ("api", "binance", "web", "ws")
HISTORY_QUERIES = ("storage.reads", "storage.market_reads", "storage.operations.OperatorHistory")
# A core's sequencer is built in one place, whichever way its engine came (recovered here,
# or followed by a cluster's standby): there its settings are applied.
SEQUENCER_BUILDER = "core.bootstrap.build_sequencer"


def modules(source: Path, root: str) -> Iterator[tuple[str, Path]]:
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source).with_suffix("")
        parts = [root, *relative.parts]
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imports(path: Path, module: str) -> Iterator[str]:
    """Every module `path` imports, absolute (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            for alias in node.names:
                yield f"{target}.{alias.name}"


def top(module: str, root: str) -> str | None:
    """The first-level package (or module) of the project that `module` belongs to."""
    parts = module.split(".")
    if parts[0] != root or len(parts) < 2:
        return None
    return parts[1]


def layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"{package!r} is in no layer: place it in LAYERS")


def violations(source: Path, root: str) -> list[str]:
    found: list[str] = []
    known = {name for name, _ in modules(source, root)}
    for module, path in modules(source, root):
        own = top(module, root)
        if own is None:
            continue
        for target in sorted(set(imports(path, module))):
            other = top(target, root)
            if own in PURE and target.split(".")[0] in IMPURE:
                found.append(f"{module} imports {target}: the {own} does no I/O and reads no clock")
            if other is None or other == own:
                continue
            if target not in known and target.rpartition(".")[0] not in known:
                continue  # `from package import name` of a name, already counted by its module
            if own in PURE and not (own == "engine" and other == "domain"):
                found.append(f"{module} imports {target}: the {own} imports no other project package")
            elif layer_of(other) > layer_of(own):
                found.append(f"{module} imports {target}: {own} may not depend on {other}, a layer out")
    return sorted(set(found))


def history_bypassed(source: Path, root: str) -> list[str]:
    """API modules that import a history query module instead of asking the gateway."""
    forbidden = tuple(f"{root}.{name}" for name in HISTORY_QUERIES)
    found: list[str] = []
    for module, path in modules(source, root):
        if top(module, root) in APIS:
            found.extend(
                f"{module} imports {target}: read history through Gateway.history()"
                for target in sorted(set(imports(path, module)))
                if target.startswith(forbidden)
            )
    return found


def sequencer_built_elsewhere(source: Path, root: str) -> list[str]:
    """Calls that construct a `Sequencer` anywhere but in `build_sequencer`: by its name,
    by a name it was imported as, or as an attribute (`sequencer.Sequencer(...)`)."""
    builder_module, _, builder = SEQUENCER_BUILDER.rpartition(".")
    found: list[str] = []
    for module, path in modules(source, root):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {"Sequencer"} | {
            alias.asname
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
            if alias.name == "Sequencer" and alias.asname
        }
        allowed: set[int] = set()
        if module == f"{root}.{builder_module}":
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == builder:
                    allowed |= {id(inner) for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in allowed:
                called = node.func
                name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", None)
                if name in names:
                    found.append(f"{module}:{node.lineno} builds a Sequencer: call {builder}")
    return found


def cycles(source: Path, root: str) -> list[list[str]]:
    """Package-level cycles among the first-level packages."""
    graph: dict[str, set[str]] = {}
    for module, path in modules(source, root):
        own = top(module, root)
        if own is None:
            continue
        for target in imports(path, module):
            other = top(target, root)
            if other is not None and other != own:
                graph.setdefault(own, set()).add(other)
    found: list[list[str]] = []
    for start in sorted(graph):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for following in sorted(graph.get(node, ())):
                if following == start:
                    found.append(trail)
                elif following not in trail:
                    stack.append((following, [*trail, following]))
    return found


def test_dependencies_point_inward() -> None:
    assert violations(SOURCE, ROOT) == []


def test_the_apis_read_history_through_the_gateway() -> None:
    assert history_bypassed(SOURCE, ROOT) == []


def test_the_sequencer_is_built_in_one_place() -> None:
    assert sequencer_built_elsewhere(SOURCE, ROOT) == []


def test_no_package_cycles() -> None:
    assert cycles(SOURCE, ROOT) == []


def test_every_package_is_placed_in_a_layer() -> None:
    packages = {top(module, ROOT) for module, _ in modules(SOURCE, ROOT)} - {None}
    for package in packages:
        assert package is not None
        layer_of(package)


# -- the checker checked: a planted tree that breaks each rule ------------------------------


def plant(tree: Path, files: dict[str, str]) -> Path:
    source = tree / "planted"
    for name, text in files.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in [source, *(p for p in source.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    return source


def _found(messages: Iterable[str], importer: str, *fragments: str) -> bool:
    """Whether a message says `importer ...` with every fragment in it."""
    return any(
        message.startswith(importer) and all(fragment in message for fragment in fragments)
        for message in messages
    )


def test_the_checker_catches_a_planted_outward_import_and_a_cycle(tmp_path: Path) -> None:
    source = plant(
        tmp_path,
        {
            "core/port.py": "from planted.api import routes\n",  # inward layer reaching out
            "api/routes.py": "from planted.core.port import x\n",
            "storage/reads.py": "import planted.sequencer.loop\n",
            "sequencer/loop.py": "from ..storage import reads\n",  # relative, still outward
        },
    )
    found = violations(source, "planted")
    assert _found(found, "planted.core.port", "core may not depend on api")
    assert _found(found, "planted.sequencer.loop", "sequencer may not depend on storage")
    assert not _found(found, "planted.api.routes")  # outer on inner: fine
    assert ["api", "core"] in cycles(source, "planted") or ["core", "api"] in cycles(source, "planted")


def test_the_checker_keeps_the_domain_and_engine_pure(tmp_path: Path) -> None:
    source = plant(
        tmp_path,
        {
            "domain/money.py": "import time\nfrom planted.engine import book\n",
            "engine/book.py": "from planted.domain import money\nimport asyncio\n",
            "engine/clock.py": "from datetime import datetime\nfrom planted.storage import x\n",
            "storage/x.py": "",
        },
    )
    found = violations(source, "planted")
    assert _found(found, "planted.domain.money imports time")
    assert _found(found, "planted.domain.money imports planted.engine", "imports no other project package")
    assert _found(found, "planted.engine.book imports asyncio")
    assert not _found(found, "planted.engine.book imports planted.domain")
    assert _found(found, "planted.engine.clock imports datetime")
    assert _found(found, "planted.engine.clock imports planted.storage")


def test_the_checker_catches_history_read_around_the_gateway(tmp_path: Path) -> None:
    source = plant(
        tmp_path,
        {
            "binance/rest.py": "from planted.storage import reads\n",
            "api/markets.py": "from planted.storage.market_reads import MarketHistory\n",
            "api/audit.py": "from planted.storage.operations import record_audit\n",  # a write: not history
            "marketdata/live.py": "from planted.storage.market_reads import MarketHistory\n",  # a read model
            "storage/reads.py": "",
            "storage/market_reads.py": "",
            "storage/operations.py": "",
        },
    )
    found = history_bypassed(source, "planted")
    assert _found(found, "planted.binance.rest imports planted.storage.reads")
    assert _found(found, "planted.api.markets imports planted.storage.market_reads")
    assert not _found(found, "planted.api.audit")
    assert not _found(found, "planted.marketdata.live")


def test_the_checker_catches_a_sequencer_built_outside_the_builder(tmp_path: Path) -> None:
    builder = "from planted.sequencer import Sequencer\n\n\ndef build_sequencer():\n    return Sequencer()\n"
    source = plant(
        tmp_path,
        {
            "cluster/node.py": "from planted import sequencer\ns = sequencer.Sequencer(engine)\n",
            "app/roles.py": "from planted.sequencer import Sequencer\n\n\ndef f():\n    return Sequencer()\n",
            "app/other.py": "from planted.sequencer import Sequencer as S\ns = S()\n",  # renamed
            "core/bootstrap.py": builder + "\n\ndef recover():\n    return Sequencer()\n",
            "core/local.py": "from planted.sequencer import Sequencer\nx: Sequencer\n",  # a type: fine
        },
    )
    found = sequencer_built_elsewhere(source, "planted")
    assert found == [
        "planted.app.other:2 builds a Sequencer: call build_sequencer",
        "planted.app.roles:5 builds a Sequencer: call build_sequencer",
        "planted.cluster.node:2 builds a Sequencer: call build_sequencer",
        "planted.core.bootstrap:9 builds a Sequencer: call build_sequencer",  # not in the builder
    ]


@pytest.mark.parametrize("package", ["nowhere"])
def test_a_package_outside_the_layers_is_reported(package: str) -> None:
    with pytest.raises(AssertionError, match="is in no layer"):
        layer_of(package)
