from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "referloop.portal"
    label = "portal"
