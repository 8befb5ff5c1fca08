"""Diagnose: find every common cause of a failed booking automatically, send test bookings, build support bundles.

Used by the integration's Diagnose tab and by `referloop doctor`. The checks only read: they change no
integration, lead or delivery, so they can run as often as a person likes.
"""
