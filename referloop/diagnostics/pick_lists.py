"""The check that the Job Type, Business Unit and Campaign ids in the mapping are still active in ServiceTitan.

"Run checks" reads the three lists afresh (bounded like the Leads tab's read, and the fresh lists then serve
the Leads tab too); the page view and `doctor --offline` only use what the cache holds, so they never wait on
ServiceTitan. No ServiceTitan call at all when no such id is mapped.
"""

from __future__ import annotations

from referloop.diagnostics import fixes
from referloop.diagnostics.result import CheckResult, Status
from referloop.diagnostics.text import and_join
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.pick_lists import (
    KIND_LABELS,
    PICK_LIST_FIELDS,
    cached_pick_lists,
    pick_lists,
    stored_id,
    stored_id_problems,
)

PICK_LISTS = ("pick_lists", "Job Type, Business Unit and Campaign")


def check_pick_lists(integration: Integration, *, fresh: bool) -> CheckResult:
    mapping = integration.mapping()
    ids = {
        target.key: (target.pick_list, item_id)
        for target in PICK_LIST_FIELDS
        if (item_id := stored_id(mapping.get(target.key))) is not None
    }
    if not ids:
        return CheckResult(*PICK_LISTS, Status.OK, "No Job Type, Business Unit or Campaign id is set in the mapping.")
    lists = pick_lists(integration, refresh=True) if fresh else cached_pick_lists(integration)
    if lists is None or not (lists.loaded or fresh):
        return CheckResult(
            *PICK_LISTS, Status.SKIPPED, "Not checked yet: this check asks ServiceTitan. Click Run checks."
        )
    leads_tab = fixes.tab_link(integration, fixes.LEADS)
    if lists.problem:
        return CheckResult(
            *PICK_LISTS,
            Status.WARNING,
            f"Could not check the ids with ServiceTitan: {lists.problem}",
            fix="Run the checks again in a minute.",
        )
    problems = stored_id_problems(mapping, lists)
    if problems:
        return CheckResult(
            *PICK_LISTS,
            Status.PROBLEM,
            " ".join(problems.values()),
            fix="On the Leads tab, choose an active one from the list (click the refresh icon if you just added it "
            "in ServiceTitan).",
            data={"ids": {key: ids[key][1] for key in problems}},
        ).link_to(leads_tab)
    named = [f"{KIND_LABELS[kind]} {item_id} (“{lists.name_of(kind, item_id)}”)" for kind, item_id in ids.values()]
    return CheckResult(
        *PICK_LISTS,
        Status.OK,
        f"{and_join(named)} {'is' if len(named) == 1 else 'are'} active in ServiceTitan.",
    )
