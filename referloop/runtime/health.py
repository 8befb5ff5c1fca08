"""/healthz and /readyz, for load balancers and orchestrators.

`/healthz` says the process answers: nothing else is asked, so a database outage never makes an orchestrator kill
healthy web processes. `/readyz` says this web process can do its job: the database answers and every migration
is applied; 503 otherwise, naming what is missing. It also reports whether a worker has sent a heartbeat within
30 seconds (the freshness Diagnose and /metrics use), without making the answer 503: with the workers down the
web processes still take every lead and hold it for the workers, and taking them out of the load balancer would
turn a worker outage into lost leads. Alert on `worker` (or on /metrics' referloop_workers_alive) instead.

Both are answered by a middleware placed first: before the host check (a probe often sends the machine's address
as Host), the session, CSRF and the login, none of which a probe needs or should cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
OK = "ok"

_migrated = False  # once every migration is applied, it stays so for this process's code


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/")
        if path == HEALTH_PATH:
            return answer({"status": OK}, 200)
        if path == READY_PATH:
            checks = readiness()
            ready = checks["database"] == OK and checks["migrations"] == OK
            return answer({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)
        return self.get_response(request)


def answer(body: dict[str, object], status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def readiness() -> dict[str, str]:
    """Each check's "ok" or what is wrong; the later checks need the database, so they wait for it."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("readyz: the database is unreachable (%s)", type(error).__name__)
        return {"database": "unreachable", "migrations": "unknown", "worker": "unknown"}
    return {"database": OK, "migrations": migrations(), "worker": worker()}


def migrations() -> str:
    global _migrated
    if _migrated:
        return OK
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return "unknown"
    if pending:
        return f"{len(pending)} not applied"
    _migrated = True
    return OK


def worker() -> str:
    from referloop.integrations import workers  # models: imported once the apps are ready

    try:
        alive = workers.alive(timezone.now()).exists()
    except DatabaseError:
        return "unknown"
    return OK if alive else f"no heartbeat in the last {int(workers.ALIVE_WITHIN.total_seconds())} s"
