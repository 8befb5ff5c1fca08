"""Rewards in the admin: to look, not to change. Issuing and canceling go through the Rewards tab or the API,
which lock the row, audit the change and run the hooks (the referrer's email)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from referloop.rewards.models import Reward, RewardRule


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RewardRule)
class RewardRuleAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "recipient", "trigger", "kind", "amount", "currency", "percent", "every")
    list_filter = ("trigger", "kind")


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdmin):
    list_display = ("pk", "campaign", "recipient", "trigger", "kind", "amount", "currency", "status", "due_at")
    list_filter = ("status", "trigger", "kind")
    search_fields = ("lead__email", "referrer__email", "referrer__code")
    list_select_related = ("campaign",)
