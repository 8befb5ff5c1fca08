"""Query-string filters and paging, as ASP.NET binds them: a bad value is a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from starlette.datastructures import QueryParams

from referloop.sandbox.errors import validation_error
from referloop.sandbox.wire import parse_dt

MAX_IDS = 50
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 5000  # ServiceTitan's maximum is unconfirmed; its Partner API documents 5000


class Dated(Protocol):
    id: int
    created_on: datetime
    modified_on: datetime


T = TypeVar("T")


@dataclass(frozen=True)
class DateFilter:
    created_before: datetime | None
    created_from: datetime | None
    modified_before: datetime | None
    modified_from: datetime | None

    def __call__(self, item: Dated) -> bool:
        return (
            (self.created_before is None or item.created_on < self.created_before)
            and (self.created_from is None or item.created_on >= self.created_from)
            and (self.modified_before is None or item.modified_on < self.modified_before)
            and (self.modified_from is None or item.modified_on >= self.modified_from)
        )


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    include_total: bool


class Query:
    def __init__(self, params: QueryParams) -> None:
        self._params = params
        self.errors: dict[str, list[str]] = {}

    def text(self, name: str) -> str | None:
        return self._params.get(name)

    def integer(self, name: str) -> int | None:
        return self._parse(name, int)

    def boolean(self, name: str) -> bool | None:
        return self._parse(name, _boolean)

    def date_time(self, name: str) -> datetime | None:
        return self._parse(name, parse_dt)

    def choice(self, name: str, allowed: Sequence[str]) -> str | None:
        """An enum value, matched regardless of case as .NET binds enums; anything else is a 400."""
        raw = self._params.get(name)
        if raw is None or raw == "":
            return None
        match = next((value for value in allowed if value.lower() == raw.lower()), None)
        if match is None:
            self.errors[name] = [f"The value '{raw}' is not valid."]
        return match

    def ids(self, name: str = "ids") -> set[int] | None:
        """A comma-separated id list (at most 50), as every ServiceTitan list endpoint takes it."""
        raw = self._params.get(name)
        if raw is None or not raw.strip():
            return None
        try:
            ids = {int(part) for part in raw.split(",") if part.strip()}
        except ValueError:
            self.errors[name] = [f"The value '{raw}' is not valid."]
            return None
        if len(ids) > MAX_IDS:
            self.errors[name] = [f"No more than {MAX_IDS} ids can be requested at once."]
        return ids

    def page(self) -> Page:
        number = self.integer("page")
        size = self.integer("pageSize")
        if number is not None and number < 1:
            self.errors["page"] = ["The page must be 1 or more."]
        if size is not None and not 1 <= size <= MAX_PAGE_SIZE:
            self.errors["pageSize"] = [f"The pageSize must be between 1 and {MAX_PAGE_SIZE}."]
        return Page(number or 1, size or DEFAULT_PAGE_SIZE, bool(self.boolean("includeTotal")))

    def dates(self) -> DateFilter:
        """The created/modified date filters every list endpoint shares (bounds: before is exclusive)."""
        return DateFilter(
            created_before=self.date_time("createdBefore"),
            created_from=self.date_time("createdOnOrAfter"),
            modified_before=self.date_time("modifiedBefore"),
            modified_from=self.date_time("modifiedOnOrAfter"),
        )

    def check(self) -> None:
        if self.errors:
            raise validation_error(dict(sorted(self.errors.items())))

    def _parse(self, name: str, parse: Callable[[str], T]) -> T | None:
        raw = self._params.get(name)
        if raw is None or raw == "":
            return None
        try:
            return parse(raw)
        except ValueError:
            self.errors[name] = [f"The value '{raw}' is not valid."]
            return None


def paginate(items: Sequence[T], page: Page, to_api: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """ServiceTitan's PaginatedResponse envelope over items already filtered and sorted."""
    start = (page.number - 1) * page.size
    chunk = items[start : start + page.size]
    return {
        "page": page.number,
        "pageSize": page.size,
        "hasMore": start + page.size < len(items),
        "totalCount": len(items) if page.include_total else None,
        "data": [to_api(item) for item in chunk],
    }


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise ValueError(raw)
    return lowered == "true"
