"""The engine knows no destination: neither the email connector nor the notifications app, however indirectly."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.integrations.engine.test_imports import ENGINE, closure

EMAIL_CODE = ("referloop.providers.email", "referloop.notifications")


def test_the_engine_reaches_no_email_code() -> None:
    engine = {f"referloop.integrations.engine.{path.stem}" for path in ENGINE.glob("*.py")}

    reached = closure(engine)

    assert "referloop.providers.base" in reached
    assert sorted(module for module in reached if module.startswith(EMAIL_CODE)) == []


def test_the_email_connector_imports_no_django() -> None:
    package = Path(__file__).resolve().parents[2] / "referloop" / "providers" / "email"
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)

    assert sorted(name for name in imported if name.split(".")[0] == "django") == []
    assert "referloop.providers.base" in imported
