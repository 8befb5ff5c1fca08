"""The `referloop` command: Django's management commands under one name (`referloop serve`, `referloop migrate`),
plus `referloop sandbox`, the local ServiceTitan double."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["sandbox"]:
        # The ServiceTitan sandbox is its own small app with no Django in it.
        from referloop.sandbox.server import main as sandbox_main

        sandbox_main(args[1:])
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referloop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["referloop", *args])


if __name__ == "__main__":
    main()
