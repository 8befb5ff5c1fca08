from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "referloop.accounts"
    label = "accounts"
