"""Protection for the public forms (`/c/<slug>/join/` and `/r/<code>/`) that a real person never notices.

Layers, each in its own module:
- `client`: who is posting (client IP, from a configured trusted proxy header only, and user agent);
- `formguard`: a honeypot field and a minimum fill time (a signed timestamp rendered into the form);
- `limits`: rate limits per client IP and per campaign (django-ratelimit on Django's cache), answered with 429;
- `captcha`: an optional Turnstile or hCaptcha check, verified server-side after the formguard's (off unless set);
- `suspicious`: leads from the referrer's own network, or one of many from one network, flagged on the lead screens.

Optional email verification of a friend's lead lives in `campaigns/verification.py`: it holds the lead itself,
after these checks let the post in.
"""
