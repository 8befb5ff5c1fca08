from __future__ import annotations

from collections.abc import Mapping

from django.forms.utils import ErrorDict


class InputRejected(Exception):
    """Input that cannot be written; `errors` maps each field name to its problems, nothing was saved."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = dict(errors)

    @classmethod
    def from_form(cls, errors: ErrorDict) -> InputRejected:
        return cls({field: [str(message) for message in messages] for field, messages in errors.items()})


class SelfReferral(InputRejected):
    """A referrer's own email on their own link. The API says so; the public page answers as for any lead, or a
    stranger holding the link could test guesses of its owner's email."""

    def __init__(self) -> None:
        super().__init__({"email": ["A referrer can't refer their own email address."]})
