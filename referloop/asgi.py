"""The web app as uvicorn serves it (`referloop serve`, or `uvicorn referloop.asgi:application`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referloop.settings")
# A web process borrows its PostgreSQL connections from a pool (settings.postgres_pool says why); the worker,
# management commands and tests keep one connection per thread.
os.environ["REFERLOOP_DB_POOL"] = "1"
application = get_asgi_application()
