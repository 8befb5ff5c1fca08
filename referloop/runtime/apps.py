from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    """Running referloop: the `serve` supervisor, the demo data, the sandbox command."""

    name = "referloop.runtime"
    label = "runtime"
