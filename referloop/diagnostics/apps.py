from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    name = "referloop.diagnostics"
    label = "diagnostics"
    verbose_name = "Diagnostics"
