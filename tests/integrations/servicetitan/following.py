"""Running the follower in tests: every integration's cycle made due now, and a bounded worker run until each one
has finished a cycle after that (test_follower.py, and the browser tests through `follow_cycle_in_thread`)."""

from __future__ import annotations

import threading

from django.db.models import Q
from django.utils import timezone

from referloop.integrations.models import FollowSync
from tests.integrations.engine.helpers import drain


def follow_cycle() -> None:
    """Make every integration's cycle due now and run a worker until each one has finished a cycle after that."""
    started = timezone.now()
    FollowSync.objects.update(due_at=started)

    def done() -> bool:
        behind = Q(last_success_at__isnull=True) | Q(last_success_at__lt=started)
        failed = Q(last_error_at__gte=started)
        return not FollowSync.objects.filter(behind & ~failed).exists()

    drain(stop=lambda: done(), follow_tick=0.05)
    assert done(), "the follower did not finish a cycle in time"


def follow_cycle_in_thread(timeout: float = 60.0) -> None:
    """`follow_cycle()` in a thread of its own: the worker runs an asyncio loop, and a browser test's thread already
    runs Playwright's. A failure in the thread (an assertion included) is raised here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            follow_cycle()
        except BaseException as error:  # handed to the test's thread as it is
            errors.append(error)

    thread = threading.Thread(target=run, name="referloop-follower")
    thread.start()
    thread.join(timeout=timeout)
    assert not thread.is_alive(), "the follower did not finish"
    if errors:
        raise errors[0]
