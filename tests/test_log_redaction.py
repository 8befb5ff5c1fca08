"""Credentials never reach a log line through an exception: the traceback, the exception's message, a message's
arguments. Each test logs through a real logger into the handler settings.LOGGING configured (its stream swapped
for a buffer) and reads what it printed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from referloop.security.logging import RedactCredentials

SECRETS = {
    "bearer": "Authorization: Bearer rl_LiveKeyAbcdef0123456789",
    "basic": "Basic dXNlcjpodW50ZXIyLXN1cGVyLXNlY3JldA==",
    "api key": "rl_AnotherLiveKey9876543210",
    "client secret": "client_secret=st-client-secret-value-42",
    "password": "password=hunter2-correct-horse",
}


def secret_part(text: str) -> str:
    """The part of `text` that must not be printed: what follows the name, the scheme or the ":"."""
    for separator in ("Bearer ", "Basic ", "=", ": "):
        if separator in text:
            return text.split(separator, 1)[1]
    return text


@pytest.fixture
def printed() -> Iterator[io.StringIO]:
    """What the configured console handler prints, while the test runs."""
    [handler] = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and any(isinstance(f, RedactCredentials) for f in h.filters)
    ]
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(old)


@pytest.mark.parametrize("name", list(SECRETS))
def test_an_exception_message_with_a_credential_is_printed_redacted_in_the_traceback(
    printed: io.StringIO, name: str
) -> None:
    logger = logging.getLogger("referloop.tests.redaction")
    try:
        raise RuntimeError(f"upstream refused the request ({SECRETS[name]})")
    except RuntimeError:
        logger.exception("Calling the provider failed")

    output = printed.getvalue()
    assert "Traceback (most recent call last)" in output and "RuntimeError: upstream refused" in output
    assert secret_part(SECRETS[name]) not in output
    assert "[redacted]" in output


def test_a_chained_exception_is_redacted_in_every_part(printed: io.StringIO) -> None:
    logger = logging.getLogger("referloop.tests.redaction")
    try:
        try:
            raise ValueError("token request: client_secret=first-secret-value&grant_type=client_credentials")
        except ValueError as inner:
            raise ConnectionError("retry with {'Authorization': 'Basic c2Vjb25kLXNlY3JldA=='}") from inner
    except ConnectionError:
        logger.error("Delivery failed", exc_info=True)

    output = printed.getvalue()
    assert "The above exception was the direct cause" in output
    assert "first-secret-value" not in output and "c2Vjb25kLXNlY3JldA==" not in output
    assert "grant_type=client_credentials" in output  # only the secret goes


def test_a_password_in_a_dict_argument_is_printed_redacted(printed: io.StringIO) -> None:
    logging.getLogger("referloop.tests.redaction").warning(
        "form posted: %s", {"username": "pat@example.com", "password": "my pass phrase"}
    )
    output = printed.getvalue()
    assert "my pass phrase" not in output and "pass phrase" not in output
    assert "pat@example.com" in output


def test_the_arguments_of_a_message_that_fails_to_format_are_redacted() -> None:
    record = logging.LogRecord(
        "lib", logging.ERROR, __file__, 1, "login %d failed", ("password=hunter2-correct-horse",), None
    )
    RedactCredentials().filter(record)
    assert "hunter2" not in repr(record.args)  # what Handler.handleError prints, with the message


def test_the_arguments_are_redacted_for_handlers_that_read_them() -> None:
    record = logging.LogRecord(
        "lib",
        logging.INFO,
        __file__,
        1,
        "%(who)s sent %(header)s",
        {"who": "x", "header": "Bearer rl_abcdefghijk"},
        None,
    )
    RedactCredentials().filter(record)
    assert "rl_abcdefghijk" not in record.getMessage()
    assert "rl_abcdefghijk" not in repr(record.args)


def test_stack_info_is_redacted(printed: io.StringIO) -> None:
    def holding(client_secret: str) -> None:
        logging.getLogger("referloop.tests.redaction").info("where am I", stack_info=True)

    holding("client_secret=in-a-stack-frame")  # the source line shown in the stack holds the literal
    output = printed.getvalue()
    assert "Stack (most recent call last)" in output
    assert "in-a-stack-frame" not in output


def test_redacting_twice_changes_nothing() -> None:
    once = RedactCredentials()
    record = logging.LogRecord("lib", logging.ERROR, __file__, 1, "password=%s", ("abcdef",), None)
    once.filter(record)
    first = record.getMessage()
    once.filter(record)
    assert record.getMessage() == first == "password=[redacted]"
