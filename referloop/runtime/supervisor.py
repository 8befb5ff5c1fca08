"""Runs several processes as one: starts them, and stops all of them when one dies or on Ctrl-C/SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


class Supervisor:
    def __init__(self, specs: Sequence[ProcessSpec]) -> None:
        self.specs = list(specs)
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def start(self) -> None:
        for spec in self.specs:
            env = {**os.environ, **spec.env}
            self.running[spec.name] = subprocess.Popen(spec.argv, env=env)  # noqa: S603 - our own argv

    def stop(self) -> None:
        """SIGTERM every child, give them time to finish in-flight work, then SIGKILL what is left."""
        self.stopping = True
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.running.values():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def run(self) -> int:
        """Start everything and block until a signal or a child's exit; returns the exit code for the command."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        self.start()
        try:
            while True:
                for name, process in self.running.items():
                    code = process.poll()
                    if code is not None:
                        print(f"referloop: {name} exited with code {code}; stopping the rest.", file=sys.stderr)
                        self.stop()
                        return code or 1
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("\nreferloop: stopping…", file=sys.stderr)
            # A second Ctrl-C or SIGTERM while the children finish is theirs (the worker cancels its sends);
            # here it would only cut the wait short with a traceback.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop()
            return 0
