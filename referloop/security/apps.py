from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Registers the deployment checks (`referloop check --deploy`)."""

    name = "referloop.security"
    label = "security"

    def ready(self) -> None:
        from referloop.security import checks  # noqa: F401  (registers the checks)
