"""Bad input of every kind: one line naming file, line and field, exit 2, no traceback, no output written."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builders.inputs import load_rows
from builders.lexicons.base import read_pair_file
from builders.lexicons.clwe import read_vec
from builders.lexicons.dictionaries import read_ding, read_freedict
from csir.config_io import load_yaml
from csir.errors import CsirError

ROOT = Path(__file__).resolve().parents[1]
LATIN1 = "Stra\xdfe :: street\n".encode("latin-1")


def csir(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "csir", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def one_line_exit_2(r: subprocess.CompletedProcess, expect: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0], r.stderr


def rows_file(tmp_path: Path, rows: list, name: str = "rows.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return p


def row(i, label=1, **kw):
    return {"id": f"q{i}", "query": f"query {i}", "passage": f"passage {i}", "label": label, **kw}


@pytest.mark.parametrize("rows, expect", [
    ([row(0), row(1, label="yes")], "rows.jsonl:2: field 'label' must be a number"),
    ([row(0), row(1, label=7.5)], "rows.jsonl:2: field 'label' must be 0 or 1, got 7.5"),
    ([row(0), row(1, label=0.5)], "pass --float-labels"),
    ([row(0), row(1, label=True)], "rows.jsonl:2: field 'label' must be a number"),
    ([row(0), row(1, label=None)], "rows.jsonl:2: field 'label' must be a number"),
    ([row(0), {"id": "q1", "query": "a", "passage": "b"}], "rows.jsonl:2: field 'label' missing"),
    ([row(0), row(0)], "rows.jsonl:2: field 'id' duplicate id 'q0' (first on line 1)"),
    ([row(0), {**row(1), "id": 5}], "rows.jsonl:2: field 'id' is a number here but a string on line 1"),
    ([row(0), {**row(1), "query": 3}], "rows.jsonl:2: field 'query' must be a string"),
    ([row(0), '{"id": "q1", "query": "x"'], "rows.jsonl:2: invalid JSON"),
    ([row(0), "[1, 2]"], "rows.jsonl:2: expected a JSON object"),
    ([row(0), {k: v for k, v in row(1).items() if k != "id"}], "rows.jsonl:2: field 'id' missing"),
])
def test_bad_rows_are_refused(tmp_path, rows, expect):
    with pytest.raises(CsirError, match=None) as err:
        load_rows(str(rows_file(tmp_path, rows)), label_required=True)
    assert expect in str(err.value)


def test_undecodable_jsonl_names_the_line(tmp_path):
    p = tmp_path / "rows.jsonl"
    p.write_bytes(json.dumps(row(0)).encode() + b"\n" + b'{"id": "q1", "query": "\xff\xfe"}\n')
    with pytest.raises(CsirError, match=r"rows.jsonl:2: not UTF-8 JSON"):
        load_rows(str(p))


def test_float_labels_need_the_flag_and_stay_in_range(tmp_path):
    p = rows_file(tmp_path, [row(0, label=0.25), row(1, label=1)])
    dd = load_rows(str(p), label_required=True, float_labels=True)
    assert dd["train"]["label"] == [0.25, 1.0]
    with pytest.raises(CsirError, match=r"rows.jsonl:1: field 'label' must be in \[0, 1\], got 1.5"):
        load_rows(str(rows_file(tmp_path, [row(0, label=1.5)])), float_labels=True)


def test_parquet_rows_get_the_same_checks(tmp_path):
    import datasets

    def parquet(rows: dict, name: str) -> str:
        path = tmp_path / name
        datasets.Dataset.from_dict(rows).to_parquet(str(path))
        return str(path)

    base = {"id": ["a", "b"], "query": ["q", "r"], "passage": ["p", "s"]}
    with pytest.raises(CsirError, match="field 'label' must be numbers .* has type string"):
        load_rows(parquet({**base, "label": ["yes", "no"]}, "s.parquet"))
    with pytest.raises(CsirError, match=r"row 1: field 'label' must be 0 or 1, got 7.5"):
        load_rows(parquet({**base, "label": [1.0, 7.5]}, "f.parquet"))
    with pytest.raises(CsirError, match=r"row 1: field 'id' duplicate id 'a' \(first in row 0\)"):
        load_rows(parquet({**base, "id": ["a", "a"], "label": [1, 0]}, "d.parquet"))
    with pytest.raises(CsirError, match="field 'label' missing"):
        load_rows(parquet(base, "n.parquet"), label_required=True)
    corrupt = tmp_path / "c.parquet"
    corrupt.write_bytes(b"PAR1" + os.urandom(64))
    with pytest.raises(CsirError, match="c.parquet: cannot read as parquet"):
        load_rows(str(corrupt))
    assert load_rows(parquet({**base, "label": [1, 0]}, "ok.parquet"))["train"]["label"] == [1, 0]


def test_codeswitch_cli_refuses_string_label_and_zero_workers(tmp_path, fixtures):
    lex = fixtures / "lexicons" / "en-de.txt"
    common = ["--lexicon", f"de={lex}", "--variant", "bl-cs", "--query-lang", "de", "--passage-lang", "de"]
    bad = rows_file(tmp_path, [row(0), row(1, label="yes")])
    out = tmp_path / "out"
    one_line_exit_2(csir("codeswitch", "--input", str(bad), *common, "--output", str(out)),
                    "rows.jsonl:2: field 'label' must be a number")
    one_line_exit_2(csir("codeswitch", "--input", str(fixtures / "pairs.jsonl"), *common, "--num-proc", "0",
                         "--output", str(out)), "--num-proc: must be at least 1, got 0")
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


@pytest.mark.parametrize("kind", ["ding", "muse", "freedict-index", "vec"])
def test_latin1_lexicons_name_the_line(tmp_path, kind):
    bad_line = 3 if kind == "vec" else 2  # .vec: after the header line
    if kind == "ding":
        p = tmp_path / "trans-de-en"
        p.write_bytes(b"Haus :: house\n" + LATIN1)
        call = lambda: read_ding(p, "en", "de")  # noqa: E731
    elif kind == "muse":
        p = tmp_path / "en-de.txt"
        p.write_bytes(b"house Haus\n" + "street Stra\xdfe\n".encode("latin-1"))
        call = lambda: read_pair_file(p, "en", "de")  # noqa: E731
    elif kind == "freedict-index":
        p = tmp_path / "eng-deu.index"
        p.write_bytes(b"house\tA\tB\n" + "stra\xdfe\tA\tB\n".encode("latin-1"))
        with gzip.open(tmp_path / "eng-deu.dict.dz", "wb") as fh:
            fh.write(b"house\nHaus\n")
        call = lambda: read_freedict(p, "en", "de")  # noqa: E731
    else:
        p = tmp_path / "wiki.vec"
        p.write_bytes(b"2 2\nhouse 0.1 0.2\n" + "stra\xdfe 0.3 0.4\n".encode("latin-1"))
        call = lambda: read_vec(p)  # noqa: E731
    with pytest.raises(CsirError, match=rf"{p.name}:{bad_line}: not UTF-8"):
        call()


def test_corrupt_dict_dz_is_one_line(tmp_path):
    (tmp_path / "eng-deu.index").write_text("house\tA\tB\n", encoding="utf-8")
    packed = gzip.compress(b"house\nHaus\n" + os.urandom(20000))
    (tmp_path / "eng-deu.dict.dz").write_bytes(packed[: len(packed) // 2])  # truncated
    with pytest.raises(CsirError, match=r"eng-deu.dict.dz: corrupt compressed dictzip data"):
        read_freedict(tmp_path / "eng-deu.index", "en", "de")
    one_line_exit_2(csir("lexicon", "dict", "--format", "freedict", "--input", str(tmp_path / "eng-deu.index"),
                         "--src", "en", "--tgt", "de", "--output", str(tmp_path / "lex")),
                    "corrupt compressed dictzip data")


def test_vec_header_cannot_ask_for_terabytes(tmp_path):
    p = tmp_path / "big.vec"
    p.write_text("999999999999 300\nhouse " + " ".join(["0.1"] * 300) + "\n", encoding="utf-8")
    words, vecs = read_vec(p)
    assert words == ["house"] and vecs.shape == (1, 300)


@pytest.mark.parametrize("text, expect", [
    ("a: 1\nb: [1, 2\n", "cfg.yaml:3: invalid YAML"),
    ("- just\n- a list\n", "cfg.yaml: top level must be a mapping"),
    ("a: 1\n\tb: 2\n", "cfg.yaml:2: invalid YAML"),
])
def test_yaml_errors_are_one_line(tmp_path, text, expect):
    p = tmp_path / "cfg.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(CsirError) as err:
        load_yaml(p)
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_yaml_config_cli_errors(tmp_path):
    p = tmp_path / "cfg.yaml"
    p.write_bytes(b"model: x\nlr: [1, 2\n")
    one_line_exit_2(csir("train", "--config", str(p)), "cfg.yaml:3: invalid YAML")
    p.write_bytes("model: Stra\xdfe\n".encode("latin-1"))
    one_line_exit_2(csir("train", "--config", str(p)), "cfg.yaml:1: not UTF-8 text")
    p.write_bytes(b"model: [x\n")
    one_line_exit_2(csir("evaluate", "--config", str(p), "--model", "x/y"), "cfg.yaml:2: invalid YAML")


def test_unreachable_hub_is_one_line(tmp_path, fixtures):
    from publish_samples import write_cs_dataset

    folder = write_cs_dataset(tmp_path / "ds", 0, 8)
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
           "HF_TOKEN": "hf_not_a_token"}
    for extra in ([], ["--dry-run"]):
        one_line_exit_2(csir("publish", str(folder), "--repo", "o/n", "--version", "v1.0.0", *extra, env=env),
                        "cannot reach http://127.0.0.1:9: ConnectError")
    lex = fixtures / "lexicons" / "en-de.txt"
    one_line_exit_2(csir("codeswitch", "--input", "o/n", "--lexicon", f"de={lex}", "--query-lang", "de",
                         "--output", str(tmp_path / "out"), env=env), "o/n: cannot reach http://127.0.0.1:9")
