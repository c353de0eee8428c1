"""What of a job's spec can be shown on screen: headers, URLs and bodies with their secrets cut out.

A job file never needs to hold a secret: `${VAR}` references are expanded from the environment only when a
request is sent, so a reference is shown as written. Literal text in a sensitive place is shown redacted: at
most its first few characters (never more than four, and fewer for a short secret) followed by `…`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
ELLIPSIS = "…"
REVEALED_CHARS = 4
"""The most characters of a literal secret ever shown."""
BODY_PREVIEW_CHARS = 160
VALUE_PREVIEW_CHARS = 160

SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
SENSITIVE_HEADER_WORDS = ("token", "secret", "key", "password", "passwd", "auth", "session", "credential", "signature")
AUTH_SCHEMES = frozenset(
    {
        "basic",
        "bearer",
        "digest",
        "token",
        "apikey",
        "api-key",
        "negotiate",
        "ntlm",
        "hoba",
        "mutual",
        "oauth",
        "dpop",
        "bot",
        "gnap",
        "vapid",
        "aws4-hmac-sha256",
        "scram-sha-1",
        "scram-sha-256",
    }
)
"""Words before the credentials of an Authorization header; they are not secret and say what kind it is."""

SENSITIVE_PARAMETER_PARTS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "sig",
        "signature",
        "auth",
        "authorization",
        "oauth",
        "credential",
        "credentials",
        "session",
        "sid",
        "jwt",
    }
)
SENSITIVE_PARAMETER_WORDS = ("token", "secret", "passw", "apikey", "signature", "credential")
"""Substrings that make a parameter name sensitive even when glued to other words (`accesstoken`)."""

_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_ONLY_PUNCTUATION = re.compile(r"[\s\W_]*")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_JSON_PAIR = re.compile(r'("(?P<name>[^"\\]{1,64})"\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)"')
_FORM_PAIR = re.compile(r"(?P<lead>(?:^|[&\s?])(?P<name>[A-Za-z0-9_.\-\[\]]{1,64})=)(?P<value>[^&\s]*)")


# --- names -----------------------------------------------------------------------------------------------------


def is_sensitive_header(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered in SENSITIVE_HEADERS or any(word in lowered for word in SENSITIVE_HEADER_WORDS)


def is_sensitive_parameter(name: str) -> bool:
    """Whether a query parameter, form field, JSON key or keyword argument name suggests a secret value."""
    parts = [part for part in re.split(r"[^a-z0-9]+", _CAMEL_BOUNDARY.sub("_", name).lower()) if part]
    if any(part in SENSITIVE_PARAMETER_PARTS for part in parts):
        return True
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_PARAMETER_WORDS)


# --- values ----------------------------------------------------------------------------------------------------


def mask_literal(text: str) -> str:
    """A literal secret cut short: at most REVEALED_CHARS characters and at most a quarter of it, then `…`.

    `abcdefghijklmnop` (16 characters) shows as `abcd…`, `abcdefgh` as `ab…`, `abc` as `…`.
    """
    if not text:
        return text
    shown = min(REVEALED_CHARS, len(text) // 4)
    return text[:shown] + ELLIPSIS


def redact_secret(value: str, *, reveal: bool = True) -> str:
    """A secret value as written, with every `${VAR}` reference kept and every literal stretch masked.

    With `reveal=False` a literal stretch shows no character at all, just `…`.
    """
    pieces: list[str] = []
    position = 0
    for reference in _ENV_REFERENCE.finditer(value):
        pieces.append(_mask_stretch(value[position : reference.start()], reveal))
        pieces.append(reference.group())
        position = reference.end()
    pieces.append(_mask_stretch(value[position:], reveal))
    return "".join(pieces)


def _mask_stretch(text: str, reveal: bool) -> str:
    if _ONLY_PUNCTUATION.fullmatch(text):
        return text  # separators such as `:` between two references give nothing away
    stripped = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return lead + (mask_literal(stripped) if reveal else ELLIPSIS) + trail


def redact_header_value(name: str, value: str) -> str:
    """The value of one header as it may be shown: unchanged unless the header is sensitive.

    A known scheme word is kept and then no character of the credentials: `Bearer abc123…` -> `Bearer …`.
    """
    if not is_sensitive_header(name):
        return value
    scheme, space, credentials = value.partition(" ")
    if space and scheme.lower() in AUTH_SCHEMES and credentials.strip():
        return f"{scheme} {redact_secret(credentials.strip(), reveal=False)}"
    return redact_secret(value)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with the values of sensitive ones redacted, e.g. `Authorization: Bearer …`."""
    return {name: redact_header_value(name, value) for name, value in headers.items()}


def redact_url(url: str) -> str:
    """The URL with any password in it, and sensitive query (or fragment) parameters, replaced by `***`.

    `${VAR}` references are kept as written. The rest of the URL is left exactly as it was, not re-encoded.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, password = userinfo.partition(":")
        if colon and password and not _is_reference(password):
            netloc = f"{user}:{REDACTED}@{host}"
    query = _redact_parameters(parts.query)
    fragment = _redact_parameters(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _is_reference(text: str) -> bool:
    return bool(text) and _ENV_REFERENCE.sub("", text) == ""


def _redact_parameters(query: str) -> str:
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and is_sensitive_parameter(name) and not _is_reference(value):
            pair = f"{name}={REDACTED}"
        pairs.append(pair)
    return "&".join(pairs)


def redact_text(text: str) -> str:
    """Free text (a shell command, a request body) with the URLs in it redacted."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)


def redact_body(body: str) -> str:
    """A request body with JSON string values and form fields under sensitive names replaced by `***`."""

    def json_value(match: re.Match[str]) -> str:
        if is_sensitive_parameter(match["name"]) and not _is_reference(match["value"]):
            return f'{match.group(1)}"{REDACTED}"'
        return match.group()

    def form_value(match: re.Match[str]) -> str:
        if match["value"] and is_sensitive_parameter(match["name"]) and not _is_reference(match["value"]):
            return match["lead"] + REDACTED
        return match.group()

    return redact_text(_FORM_PAIR.sub(form_value, _JSON_PAIR.sub(json_value, body)))


def redact_value(name: str, value: Any) -> str:
    """The repr of a call's keyword argument, or `***` when its name suggests a secret."""
    if is_sensitive_parameter(name) and not (isinstance(value, str) and _is_reference(value)):
        return REDACTED
    return repr(value)


# --- other libraries' logs --------------------------------------------------------------------------------------

REQUEST_LOGGERS = ("httpx", "httpcore")
"""Libraries that log each request's full URL (with its password, tokens and `${VAR}` values) at INFO."""


def quiet_request_loggers() -> None:
    """Keep the HTTP libraries from writing request URLs to any log: only their warnings and errors pass."""
    import logging

    for name in REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# --- text for one line -----------------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """One line of at most `limit` characters: whitespace runs collapsed, cut with `…`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + ELLIPSIS
