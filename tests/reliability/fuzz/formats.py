"""How the HTTP targets read a fuzz input as a request, and how seeds are written that way.

Plain text, line-oriented, so the fuzzer's byte mutations and dictionary words land on
meaningful places (a header name, a query parameter) rather than on a binary length field:

- API: `TOKEN\\nROUTE\\nVALUE...\\nQUERY`. TOKEN `read` or `admin` sends that valid token,
  empty sends none, anything else is sent as a (wrong) bearer token. ROUTE is a GET path of
  the spec, `/v1/events/{event_id}` say, or a number that picks one (so that a mutated
  number still names a route), with one VALUE line per `{parameter}` (quoted as a client
  would); any other ROUTE is sent as the path as it is. The rest is the query. Under /api.
- receiver: `NAME\\nHEADER: VALUE\\n...\\n\\nBODY`, posted to /hooks/NAME. A `:chunk N` line
  sends the body in N-byte chunks without Content-Length (as a chunked upload arrives).

Only what a real server would pass on reaches the app: bytes a request target cannot
hold are percent-encoded (as a client would), header names must be tokens, header values
lose control characters, and the framing headers (Content-Length, Transfer-Encoding,
Host) come from the harness, since the server sets the body's length, not the client.
No mailhooks import here: the fuzzing child loads this before it instruments mailhooks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

READ = b"read"
ADMIN = b"admin"
CHUNK_CONTROL = b":chunk "
HOST = b"testserver"
#: The app's body limit: the smallest the settings allow (over every sample), so that the
#: fuzzer's inputs, which it lengthens slowly, reach the 413s within a run.
BODY_LIMIT = 1024
#: Header lines beyond these are ignored (servers cap the count too).
MAX_HEADERS = 32
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"host"})
_PARAMETER = re.compile(rb"\{[A-Za-z_][A-Za-z0-9_]*\}")


def request_target(raw: bytes) -> bytes:
    """`raw` as a client sends it: printable ASCII kept, any other byte percent-encoded."""
    return b"".join(bytes([byte]) if 0x21 <= byte <= 0x7E else b"%%%02X" % byte for byte in raw)


def header_value(raw: bytes) -> bytes:
    """A header value as a server hands it on: no control characters, no outer blanks."""
    return _CONTROL.sub(b"", raw).strip(b" \t")


def path_value(raw: bytes) -> bytes:
    """A path parameter as a client puts it in the path: what would end the segment quoted."""
    quoted = request_target(raw)
    return quoted.replace(b"/", b"%2F").replace(b"?", b"%3F").replace(b"#", b"%23")


def api_input(token: bytes, route: str, values: Sequence[str] = (), query: str = "") -> bytes:
    return b"\n".join(
        [token, route.encode(), *(value.encode() for value in values), query.encode()]
    )


@dataclass(frozen=True, slots=True)
class ApiRequest:
    token: bytes
    target: bytes
    #: The spec's path the request was built from, or "raw" for a path sent as it came.
    route: str


def read_api_input(data: bytes, routes: Sequence[bytes]) -> ApiRequest:
    token, _, rest = data.partition(b"\n")
    path, _, rest = rest.partition(b"\n")
    route = "raw"
    if path.isdigit():
        path = routes[int(path[-6:]) % len(routes)]
    if path in routes:
        route = path.decode()
        for name in _PARAMETER.findall(path):
            value, _, rest = rest.partition(b"\n")
            path = path.replace(name, path_value(value), 1)
    target = request_target(path)
    if not target.startswith(b"/"):
        target = b"/" + target
    query = b"?" + request_target(rest) if rest else b""
    return ApiRequest(token=token, target=b"/api" + target + query, route=route)


def hook_input(
    name: str, headers: Sequence[tuple[str, str]], body: bytes, chunk: int | None = None
) -> bytes:
    lines = [name.encode(), *(f"{key}: {value}".encode() for key, value in headers)]
    if chunk is not None:
        lines.append(CHUNK_CONTROL + str(chunk).encode())
    return b"\n".join(lines) + b"\n\n" + body


@dataclass(frozen=True, slots=True)
class HookRequest:
    target: bytes
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]


def read_hook_input(data: bytes) -> HookRequest:
    head, separator, body = data.partition(b"\n\n")
    if not separator:
        head, body = data, b""
    name, *lines = head.split(b"\n")
    headers = [(b"host", HOST)]
    chunk: int | None = None
    for line in lines[:MAX_HEADERS]:
        if line.startswith(CHUNK_CONTROL):
            digits = line[len(CHUNK_CONTROL) :].strip()
            chunk = max(1, min(int(digits), 1 << 16)) if digits.isdigit() else None
            continue
        key, colon, value = line.partition(b":")
        key = key.strip().lower()
        if not colon or not _TOKEN.fullmatch(key) or key in _FRAMING:
            continue
        headers.append((key, header_value(value)))
    if chunk is None:
        headers.append((b"content-length", str(len(body)).encode()))
        chunks = [body]
    else:
        headers.append((b"transfer-encoding", b"chunked"))
        chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    return HookRequest(target=b"/hooks/" + request_target(name), headers=headers, chunks=chunks)
