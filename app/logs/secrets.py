"""What never reaches a log line: passwords in URLs, bearer tokens, known secrets.

The app logs no secret on purpose; this is the net under it. Every line is
scrubbed as it is written, so a secret inside an error message of a library
(a Redis URL quoted by a connection error, a header echoed by a parser) is
masked too. Every form of store URL is covered (`redis://`, `rediss://`,
`redis+cluster://`, `redis+sentinel://`, ...): the password of its user
information, up to the last `@` before the host, so a password holding an
`@` is masked whole. A Redis password given outside the URL
(`OBJMGR_REDIS_PASSWORD`) is masked wherever it appears (`never_log`).
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@ -> scheme://user:***@ (the user stays: it says which account).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s\"']*:)[^/\s\"']*@")
# scheme://password@ with no user: old Redis URLs put a lone password there. An ACL
# user given alone (its password in OBJMGR_REDIS_PASSWORD) reads the same, so it is
# masked too: a line cannot tell the two apart.
_URL_LONE_PASSWORD = re.compile(r"(?P<head>\bredis(?:s|\+[a-z]+)?://)[^:/?#\s\"']+@")
# Secrets the settings read outside any URL; short ones would mask common words.
_known: set[str] = set()
MIN_KNOWN_LENGTH = 4
_BEARER = re.compile(r"(?P<head>\bbearer\s+)[^\s\"',;]+", re.IGNORECASE)


def masked_url(url: str) -> str:
    """`url` with the password of its user information replaced by ***."""
    return scrub(url)


def never_log(secret: str) -> None:
    """Mask `secret` in every line from now on (a password from the environment)."""
    if len(secret) >= MIN_KNOWN_LENGTH:
        _known.add(secret)


def scrub(text: str) -> str:
    """`text` with URL passwords, bearer tokens and known secrets masked."""
    for secret in _known:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
        text = _URL_LONE_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    if "earer" in text:
        text = _BEARER.sub(rf"\g<head>{MASK}", text)
    return text
