"""Email as a delivery-engine connector: a message handed to a mail server once. No Django imports."""

from .connector import NAME, Destination, EmailConnector, Mailbox, Message, describe

__all__ = ["NAME", "Destination", "EmailConnector", "Mailbox", "Message", "describe"]
