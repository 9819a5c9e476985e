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
