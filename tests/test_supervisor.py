"""`referloop serve`'s supervisor: a second signal while the children finish stops nothing early, prints no
traceback, and the command still exits 0 once they are done."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# A child that takes a moment to finish after SIGTERM (as the worker finishing its sends), under the supervisor.
SCRIPT = textwrap.dedent(
    """
    import sys
    from referloop.runtime.supervisor import ProcessSpec, Supervisor

    child = (
        "import signal, sys, time\\n"
        "def done(*_):\\n"
        "    print('child stopping', flush=True); time.sleep(1.5); print('child done', flush=True); sys.exit(0)\\n"
        "signal.signal(signal.SIGTERM, done)\\n"
        "print('child ready', flush=True)\\n"
        "time.sleep(60)\\n"
    )
    sys.exit(Supervisor([ProcessSpec("child", [sys.executable, "-c", child])]).run())
    """
)


def test_a_second_signal_while_stopping_waits_for_the_children_without_a_traceback(tmp_path: Path) -> None:
    release = tmp_path / "release"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(release)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert supervisor.stdout is not None and supervisor.stderr is not None
    assert supervisor.stdout.readline().strip() == "child ready"

    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.stdout.readline().strip() == "child stopping"  # the child got it and is finishing
    supervisor.send_signal(signal.SIGTERM)  # the impatient second one, while the child is still finishing
    time.sleep(0.3)  # lets the supervisor take the second signal while the child still waits for `release`
    release.touch()
    out, err = supervisor.communicate(timeout=30)

    assert supervisor.returncode == 0
    assert "child done" in out  # it was allowed to finish
    assert "Traceback" not in err
