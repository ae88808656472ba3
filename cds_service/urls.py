"""Where FHIR requests may go: ``fhirServer`` allowlists and ``next`` links inside a base.

Both checks compare URLs the way a server would read them, not as strings:
scheme and host in lower case, the default port filled in, the path
percent-decoded (repeatedly, until it no longer changes: ``%252e`` is ``%2e``
to one server and ``.`` to another), backslashes read as slashes, ``;``
parameters cut off each segment, and empty segments dropped. A path with a
``.`` or ``..`` segment at any decoding level is never inside a base: the
bearer token must not reach ``/fhir/%2e%2e/admin``.

``redacted`` is the form a URL may take in a log: scheme, host, port and path,
never the query (search parameters may name a patient), a fragment or a user.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["NormalisedUrl", "base_allowed", "normalise", "redacted"]

_MAX_DECODING_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class NormalisedUrl:
    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]
    """Path segments, decoded, without empty ones."""
    traverses: bool
    """Whether a ``.`` or ``..`` segment appears at some decoding level."""

    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    def within(self, base: NormalisedUrl) -> bool:
        """Same origin, path equal to or below the base's, no dot segment anywhere."""
        return (
            not self.traverses
            and not base.traverses
            and self.origin() == base.origin()
            and self.segments[: len(base.segments)] == base.segments
        )


def normalise(url: str) -> NormalisedUrl | None:
    """The URL as a server reads it; None when it is not an absolute http(s) URL or names
    a user (``https://user@host`` can be read as another host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    path, traverses = parts.path, False
    for _ in range(_MAX_DECODING_ROUNDS):
        traverses = traverses or _has_dot_segment(path)
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        traverses = traverses or "%" in path  # still encoded after every round: refuse
    traverses = traverses or _has_dot_segment(path)
    segments = tuple(s for s in (_segment(raw) for raw in _split(path)) if s)
    default_port = 443 if scheme == "https" else 80
    return NormalisedUrl(scheme, parts.hostname.lower(), port or default_port, segments, traverses)


def base_allowed(fhir_server: str, allowed: Iterable[str]) -> bool:
    """Whether ``fhir_server`` is one of the ``allowed`` bases (same origin, same path).

    A ``fhirServer`` with a query or fragment is never allowed."""
    if "?" in fhir_server or "#" in fhir_server:
        return False
    wanted = normalise(fhir_server)
    if wanted is None or wanted.traverses:
        return False
    for base in allowed:
        listed = normalise(base)
        if listed is not None and (wanted.origin(), wanted.segments) == (
            listed.origin(),
            listed.segments,
        ):
            return True
    return False


def redacted(url: str) -> str:
    """scheme://host:port/path only: no query, fragment or credentials (for logs)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(not a URL)"
    host = parts.hostname or ""
    shown_port = f":{port}" if port else ""
    return f"{parts.scheme}://{host}{shown_port}{parts.path}"[:300]


def _split(path: str) -> list[str]:
    return path.replace("\\", "/").split("/")


def _segment(raw: str) -> str:
    return raw.split(";", 1)[0]


def _has_dot_segment(path: str) -> bool:
    return any(_segment(raw).strip() in (".", "..") for raw in _split(path))
