from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "referloop.rewards"
    label = "rewards"

    def ready(self) -> None:
        """Rewards are earned from the lead's outcomes, in the transaction of each change (earning.py)."""
        from referloop.campaigns import admission, outcomes
        from referloop.rewards import earning

        outcomes.on_qualified(earning.on_qualified)
        outcomes.on_unqualified(earning.on_unqualified)
        outcomes.on_invoice_total(earning.on_invoice_total)
        admission.on_lead_admitted(earning.on_lead_admitted, ask=earning.thanks_wanted)
