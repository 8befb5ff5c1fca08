from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "referloop.rewards"
    label = "rewards"
