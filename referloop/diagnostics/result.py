"""One check's answer: ok, warning or problem, one sentence, and the exact fix with a link to the screen for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from referloop.diagnostics import fixes


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    # The check could not apply (not connected yet, or an earlier check failed): not a problem by itself.
    SKIPPED = "skipped"


STATUS_LABELS = {
    Status.OK: "OK",
    Status.WARNING: "Warning",
    Status.PROBLEM: "Problem",
    Status.SKIPPED: "Skipped",
}


@dataclass
class CheckResult:
    key: str
    title: str
    status: Status
    sentence: str
    fix: str = ""
    fix_url_name: str = ""
    fix_url_params: tuple[object, ...] = ()
    fix_label: str = ""
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_problem(self) -> bool:
        return self.status == Status.PROBLEM

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def fix_url(self) -> str:
        return fixes.resolve(self.fix_url_name, self.fix_url_params)

    def link_to(self, link: fixes.FixLink) -> CheckResult:
        self.fix_url_name, self.fix_url_params, self.fix_label = link.url_name, link.params, link.label
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": str(self.status),
            "sentence": self.sentence,
            "fix": self.fix,
            "fix_url": self.fix_url,
            "details": list(self.details),
            "data": self.data,
        }


def count_by_status(results: list[CheckResult]) -> dict[str, int]:
    counts = {str(status): 0 for status in Status}
    for result in results:
        counts[str(result.status)] += 1
    return counts


def has_problem(results: list[CheckResult]) -> bool:
    return any(result.is_problem for result in results)
