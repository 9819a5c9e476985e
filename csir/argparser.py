"""The one ArgumentParser class every `csir` parser uses: no prefix guessing, typos named with a suggestion.

Plain argparse takes `--task` as `--tasks` (prefix abbreviation) and, when a flag is mistyped, often reports a
consequence instead (`--inptu x` -> "the following arguments are required: --input"). This parser refuses
abbreviations, checks for unknown flags *before* anything else, names each one with the closest real flag,
and prints one line (`prog: error: ...`, exit 2) instead of the whole usage block.
"""

from __future__ import annotations

import argparse
import re
import sys

from csir.suggest import did_you_mean

_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
_INVALID_CHOICE = re.compile(r"invalid choice: '?(?P<value>[^'\s]*)'? \(choose from (?P<choices>.*)\)")


class CsirArgumentParser(argparse.ArgumentParser):
    """argparse with `allow_abbrev=False`, unknown flags named first (with "did you mean"), one-line errors.

    `unknown_flags_are_errors=False` (argument or subclass attribute) keeps unknown flags for the caller, as
    `csir train` does with its `--field value` config overrides.
    """

    unknown_flags_are_errors = True

    def __init__(self, *args, unknown_flags_are_errors: bool | None = None, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        if unknown_flags_are_errors is not None:
            self.unknown_flags_are_errors = unknown_flags_are_errors

    # -- unknown flags -------------------------------------------------------------------------------
    def _takes_values(self, action: argparse.Action) -> str | int:
        return 1 if action.nargs is None else action.nargs

    def _is_flag(self, token: str) -> bool:
        if len(token) < 2 or token[0] not in self.prefix_chars:
            return False
        if _NEGATIVE_NUMBER.match(token) and not self._has_negative_number_optionals:
            return False
        return not (" " in token and token.split("=", 1)[0] not in self._option_string_actions)

    def _known(self, token: str) -> argparse.Action | None:
        name = token.split("=", 1)[0]
        if name in self._option_string_actions:
            return self._option_string_actions[name]
        if token[1] not in self.prefix_chars and token[:2] in self._option_string_actions:  # -n5, -vv
            return self._option_string_actions[token[:2]]
        return None

    def unknown_flags(self, args: list[str]) -> list[str]:
        """Flags in `args` that this parser does not define (for a parser with subcommands: before the
        subcommand, whose own parser checks the rest)."""
        has_sub = any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        unknown, i = [], 0
        while i < len(args):
            tok = args[i]
            i += 1
            if tok == "--":
                break
            if not self._is_flag(tok):
                if has_sub:
                    break
                continue
            action = self._known(tok)
            if action is None:
                unknown.append(tok.split("=", 1)[0])
                continue
            if "=" in tok or (tok[1] not in self.prefix_chars and len(tok) > 2):
                continue  # the value is attached
            n = self._takes_values(action)
            if isinstance(n, int):
                i += n
            elif n == "?":
                i += 1 if i < len(args) and not self._is_flag(args[i]) else 0
            elif n in ("*", "+"):
                while i < len(args) and not self._is_flag(args[i]):
                    i += 1
        return unknown

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if self.unknown_flags_are_errors:
            bad = self.unknown_flags(args)
            if bad:
                flags = [s for s in self._option_string_actions if s.startswith("--") or len(s) == 2]
                self.error(("unrecognized argument " if len(bad) == 1 else "unrecognized arguments ")
                           + ", ".join(b + did_you_mean(b, flags) for b in bad))
        return super().parse_known_args(args, namespace)

    # -- one-line errors ----------------------------------------------------------------------------------
    def error(self, message: str):
        m = _INVALID_CHOICE.search(message)
        if m and "did you mean" not in message:
            choices = [c.strip().strip("'\"") for c in m.group("choices").split(",")]
            message += did_you_mean(m.group("value"), choices)
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")
