"""Security headers on every HTTP response.

The Content-Security-Policy allows scripts, styles, images and connections (fetch and
WebSocket) from the service's own origin only, no inline script, and no framing; so a
string that slipped into the page as markup still could not run, and the page needs
no other host. `nosniff` keeps browsers from reading a file as another type than the
one it is served as.
"""

from typing import Final

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)
HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers without CSP level 2
)
