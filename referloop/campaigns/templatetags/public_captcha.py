"""`{% captcha_widget %}`: the CAPTCHA widget of `abuse.captcha` in a public form, nothing when it is off."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from referloop.campaigns.abuse import captcha

register = template.Library()


@register.simple_tag
def captcha_widget() -> SafeString | str:
    """The provider's widget (it adds its token field to the form) and its script, loaded from the provider.

    The script tag sits beside the widget rather than in <head>: only the two public form pages need it, and an
    async script runs the same from either place. The CSP allows the provider's origins when the CAPTCHA is on
    (settings.py). Without JavaScript the widget can't run; the <noscript> line says why the form is refused.
    """
    config = captcha.active()
    if config is None:
        return ""
    return format_html(
        '<div class="field field-captcha"><div class="{}" data-sitekey="{}"></div></div>'
        '<script src="{}" async defer></script>'
        '<noscript><p class="muted">This form checks that you\'re not a robot with JavaScript: please turn '
        "JavaScript on to send it.</p></noscript>",
        config.provider.widget_class,
        config.site_key,
        config.provider.script_url,
    )
