"""Protection for the public forms (`/c/<slug>/join/` and `/r/<code>/`) that a real person never notices.

Layers, each in its own module:
- `client`: who is posting (client IP, from a configured trusted proxy header only, and user agent);
- `formguard`: a honeypot field and a minimum fill time (a signed timestamp rendered into the form);
- `limits`: rate limits per client IP and per campaign (django-ratelimit on Django's cache), answered with 429;
- `suspicious`: leads from the referrer's own IP, or one of many from one IP, flagged on the lead screens.

Optional email verification and a CAPTCHA fit in as further checks in `formguard.screen_post` (before the form
is validated) and as a held reason on the delivery; nothing here assumes they are absent.
"""
