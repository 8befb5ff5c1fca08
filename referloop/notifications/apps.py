from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "referloop.notifications"
    label = "notifications"

    def ready(self) -> None:
        from referloop.campaigns.admission import on_lead_admitted
        from referloop.campaigns.outcomes import on_qualified
        from referloop.notifications import outbox
        from referloop.rewards.actions import on_reward_issued

        # Each email's rows are written in the transaction of what it reports (outbox.py); the "email" destination
        # kind that sends them is registered with the others in integrations/apps.py.
        on_lead_admitted(outbox.lead_admitted, ask=outbox.welcome_wanted)
        on_qualified(outbox.lead_qualified)
        on_reward_issued(outbox.reward_issued)
