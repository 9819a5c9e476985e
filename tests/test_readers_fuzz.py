"""Property: every reader, fed random bytes or random JSON rows, returns or raises CsirError - never another
exception (a traceback for the user) - and a command that fails leaves no output and no temp siblings.

Example counts are small to keep the suite fast; hypothesis keeps the failing examples it finds in its
database, so a regression reproduces at once.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders.inputs import load_rows
from builders.lexicons.base import read_pair_file
from builders.lexicons.clwe import read_vec
from builders.lexicons.dictionaries import read_ding, read_freedict
from builders.lexicons.titles import iter_sql_rows, read_titles_tsv
from builders.sources.ddtp import parse_translation_file
from csir.cli import main as csir_main
from csir.config_io import load_yaml
from csir.errors import CsirError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
FIXTURES = Path(__file__).parent / "fixtures"

# bytes that look a little like each format, so examples get past the first check now and then
text_bytes = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"house Haus\n", b"Haus :: house\n", b"a | b :: c | d\n", b"2 3\n", b"w 0.1 0.2 0.3\n",
                              b"\xff\xfe", b"\t", b" ", b"\n", b"#", b"x\ty\n", "Stra\xdfe".encode("latin-1"),
                              "Straße".encode(), b"nan", b"1e999", b"-", b"::", b"|", b";", b"\x00"]),
             max_size=30).map(b"".join),
)


_ROOT: Path | None = None  # one temp root per module run, removed at teardown (hypothesis runs hundreds of examples)


@pytest.fixture(autouse=True, scope="module")
def _fuzz_root():
    global _ROOT
    with tempfile.TemporaryDirectory(prefix="csir-fuzz-") as root:
        _ROOT = Path(root)
        yield
    _ROOT = None


def _folder() -> Path:
    return Path(tempfile.mkdtemp(dir=_ROOT))


def _file(data: bytes, name: str) -> Path:
    folder = _folder()
    path = folder / name
    path.write_bytes(data)
    return path


def returns_or_csir_error(fn, *args, **kwargs):
    try:
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):  # generators: run them to the end
            result = list(result)
        return result
    except CsirError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), repr(str(exc))
        return None


@FAST
@given(data=text_bytes)
def test_lexicon_and_text_readers(data):
    returns_or_csir_error(read_pair_file, _file(data, "muse.txt"), "en", "de")
    returns_or_csir_error(read_ding, _file(data, "trans-de-en"), "en", "de")
    returns_or_csir_error(read_ding, _file(gzip.compress(data), "trans-de-en.gz"), "en", "de")
    returns_or_csir_error(read_ding, _file(data, "broken.gz"), "en", "de")
    returns_or_csir_error(read_vec, _file(data, "x.vec"))
    returns_or_csir_error(read_titles_tsv, _file(data, "titles.tsv"), "en", "de")
    returns_or_csir_error(lambda p: list(iter_sql_rows(p, "page")), _file(b"INSERT INTO `page` VALUES " + data, "p.sql"))
    returns_or_csir_error(lambda p: list(parse_translation_file(p, "de")), _file(data, "Translation-de"))
    returns_or_csir_error(load_yaml, _file(data, "config.yaml"))


@FAST
@given(index=text_bytes, body=st.binary(max_size=300), compress=st.booleans())
def test_freedict_reader(index, body, compress):
    folder = _folder()
    (folder / "eng-deu.index").write_bytes(index)
    (folder / "eng-deu.dict.dz").write_bytes(gzip.compress(body) if compress else body)
    returns_or_csir_error(read_freedict, folder / "eng-deu.index", "en", "de")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids,
                                                                                     max_size=3), max_leaves=6)
json_rows = st.lists(st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=3), st.integers(0, 5), json_values),
    "query": st.one_of(st.text(max_size=12), json_values),
    "passage": st.one_of(st.text(max_size=12), json_values),
    "label": st.one_of(st.sampled_from([0, 1, 0.0, 1.0, 0.5, 7.5, "yes", True, None]), json_values),
    "extra": json_values}), min_size=1, max_size=6)


@SLOW
@given(rows=json_rows, float_labels=st.booleans())
def test_jsonl_rows(rows, float_labels):
    lines = "".join(json.dumps(r, allow_nan=True) + "\n" for r in rows).encode()
    dd = returns_or_csir_error(load_rows, str(_file(lines, "rows.jsonl")), label_required=True,
                               float_labels=float_labels)
    if dd is not None:  # accepted: then the typed columns hold what the rules promise
        labels = dd["train"]["label"]
        assert all(0 <= v <= 1 for v in labels) and (float_labels or set(labels) <= {0, 1})
        assert all(isinstance(q, str) for q in dd["train"]["query"])


@SLOW
@given(data=text_bytes)
def test_jsonl_and_parquet_bytes(data):
    returns_or_csir_error(load_rows, str(_file(data, "rows.jsonl")))
    returns_or_csir_error(load_rows, str(_file(b"PAR1" + data + b"PAR1", "rows.parquet")))


@pytest.fixture(scope="module")
def lexicon() -> str:
    return str(FIXTURES / "lexicons" / "en-de.txt")


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=json_rows)
def test_codeswitch_command_all_or_nothing(rows, lexicon):
    folder = _folder()
    inp = folder / "rows.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = folder / "out"
    code = csir_main(["codeswitch", "--input", str(inp), "--lexicon", f"de={lexicon}", "--query-lang", "de",
                      "--passage-lang", "de", "--output", str(out)])
    assert code in (0, 2)
    if code == 0:
        assert (out / "README.md").is_file() and (out / "build_manifest.json").is_file()
    else:
        assert not out.exists()
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
