"""One error type for user-facing problems: the CLI prints it on one line and exits 2."""


class CsirError(Exception):
    """Bad input or configuration; the message names the file, line or field."""

    exit_code = 2


def where(path, line=None, field=None) -> str:
    """Format a location prefix `file:line: field` for error messages."""
    out = str(path)
    if line is not None:
        out += f":{line}"
    if field is not None:
        out += f": field '{field}'"
    return out


def _endpoint_of(exc: BaseException) -> str:
    """scheme://host[:port] of the request that failed, else the configured Hub endpoint."""
    import os
    from urllib.parse import urlsplit

    for e in (exc, exc.__cause__, exc.__context__):
        try:
            url = str(e.request.url)  # httpx / httpx2 / requests errors carry their request
        except (AttributeError, RuntimeError):
            continue
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def network_error_message(exc: BaseException) -> str | None:
    """'cannot reach <endpoint>: <reason>' when `exc` (or its cause) is a connection failure, else None."""
    transport: tuple[type, ...] = (ConnectionError, TimeoutError)
    for mod, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                      ("requests", "ConnectionError"), ("requests", "Timeout"),
                      ("huggingface_hub.errors", "OfflineModeIsEnabled")):
        try:
            transport += (getattr(__import__(mod, fromlist=[name]), name),)
        except (ImportError, AttributeError):
            continue
    seen, e = set(), exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, transport):
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            return f"cannot reach {_endpoint_of(e)}: {type(e).__name__}{': ' + reason if reason else ''}"
        e = e.__cause__ or e.__context__
    return None
