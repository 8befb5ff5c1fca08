"""The engine knows no destination: nothing it imports, however indirectly, is a destination's code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ENGINE = ROOT / "referloop" / "integrations" / "engine"
# Each destination's code; its models are data the engine's tables point at, not code it runs.
DESTINATIONS = (
    "referloop.providers.servicetitan",
    "referloop.integrations.servicetitan",
    "referloop.providers.webhooks",
    "referloop.integrations.webhooks",
    "referloop.providers.email",
    "referloop.notifications",
)
DATA_ONLY = ("referloop.integrations.webhooks.models", "referloop.integrations.servicetitan.return_fields.models")


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(name: str, path: Path) -> set[str]:
    """Every referloop module `path` imports, at the top or inside a function, absolute or relative."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from package import module`
    return {module for module in found if module.startswith("referloop") and module_file(module) is not None}


def closure(start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is not None and name not in DATA_ONLY:
            todo.extend(imports_of(name, path) - seen)
    return seen


def test_the_engine_imports_no_destinations_code_even_indirectly() -> None:
    engine = {f"referloop.integrations.engine.{path.stem}" for path in ENGINE.glob("*.py")}
    reached = closure(engine)

    assert "referloop.providers.base" in reached  # the closure is real: the interface is reached
    leaks = sorted(module for module in reached if module.startswith(DESTINATIONS) and module not in DATA_ONLY)
    assert leaks == []
