"""The web app as uvicorn serves it (`referloop serve`, or `uvicorn referloop.asgi:application`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referloop.settings")
# A web process closes its database connection at the end of each request (settings.database_settings says
# why); the worker, management commands and tests keep one connection per thread.
os.environ["REFERLOOP_WEB_PROCESS"] = "1"
application = get_asgi_application()
