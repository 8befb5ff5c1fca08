"""The referrer's own page, `/c/<slug>/me/`: signed in by a one-time link emailed to them (links.py, session.py)."""
