from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "referloop.notifications"
    label = "notifications"
