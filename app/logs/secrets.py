"""What never reaches a log line: passwords in URLs and bearer tokens.

The app logs no secret on purpose; this is the net under it. Every line is
scrubbed as it is written, so a secret inside an error message of a library
(a Redis URL quoted by a connection error, a header echoed by a parser) is
masked too.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@ -> scheme://user:***@ (the user stays: it says which account).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s\"']*:)[^@/\s\"']*@")
# scheme://password@ with no user: Redis URLs put a lone password there.
_URL_LONE_PASSWORD = re.compile(r"(?P<head>\bredis(?:s|\+[a-z]+)?://)[^:/?#@\s\"']+@")
_BEARER = re.compile(r"(?P<head>\bbearer\s+)[^\s\"',;]+", re.IGNORECASE)


def masked_url(url: str) -> str:
    """`url` with the password of its user information replaced by ***."""
    return scrub(url)


def scrub(text: str) -> str:
    """`text` with URL passwords and bearer tokens masked."""
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
        text = _URL_LONE_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    if "earer" in text:
        text = _BEARER.sub(rf"\g<head>{MASK}", text)
    return text
