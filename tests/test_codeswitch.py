import hashlib
import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from builders.codeswitch import CodeSwitchConfig, CodeSwitcher, codeswitch_dataset, dynamic_codeswitch_transform
from builders.lexicons import Lexicon, read_pair_file
from csir.errors import CsirError

LEX_DE = Lexicon.from_pairs([("house", "Haus", 1), ("dog", "Hund", 1), ("new york", "New York", 1), ("the", "das", 1),
                             ("new", "neu", 1), ("york", "Yorck", 1), ("search", "Suche", 1), ("engine", "Maschine", 1),
                             ("search engine", "Suchmaschine", 1), ("fast", "schnell", 1)], "en", "de")
LEX_RU = Lexicon.from_pairs([("house", "дом", 1), ("dog", "собака", 1), ("fast", "быстрый", 1)], "en", "ru")
LEX_AR = Lexicon.from_pairs([("house", "منزل", 1), ("dog", "كلب", 1)], "en", "ar")
LEX_ZH = Lexicon.from_pairs([("house", "房子", 1), ("dog", "狗", 1), ("search engine", "搜索引擎", 1)], "en", "zh")
LEXICONS = {"de": LEX_DE, "ru": LEX_RU, "ar": LEX_AR, "zh": LEX_ZH}

SENTENCES = [
    "The dog's house in New York isn't new.",
    "A fast search engine, for the new house — really fast!",
    "Москва and 東京 and القاهرة: the dog stays   in the house.",
]


def switcher(langs=("de",), p=0.5, seed=1, variant="bl-cs", **kw):
    cfg = CodeSwitchConfig(variant=variant, query_langs=list(langs), passage_langs=list(langs), p=p, seed=seed, **kw)
    return CodeSwitcher(cfg, LEXICONS)


def test_golden_bl_cs_p1():
    sw = switcher(p=1.0)
    assert [sw.switch(s, i, "query")[0] for i, s in enumerate(SENTENCES)] == [
        "das Hund's Haus in New York isn't neu.",
        "A schnell Suchmaschine, for das neu Haus — really schnell!",
        "Москва and 東京 and القاهرة: das Hund stays   in das Haus.",
    ]


def test_golden_bl_cs_p05_fixed_seed():
    sw = switcher(p=0.5, seed=7)
    got = [sw.switch(s, f"ex{i}", "passage") for i, s in enumerate(SENTENCES)]
    golden = json.loads((Path(__file__).parent / "fixtures" / "codeswitch_golden.json").read_text(encoding="utf-8"))
    assert [list(g) for g in got] == golden


def test_a_query_is_switched_once_for_its_positive_and_negatives():
    """Rows `q`, `q#neg0`, `q#neg1` (one training query) share one switched query, as the paper's triples do;
    their passages are still drawn per row. Otherwise a trainer grouping rows by query text loses the negatives."""
    import datasets

    from builders.codeswitch import codeswitch_dataset

    sw = switcher(p=0.5, seed=3)
    q = SENTENCES[0]
    ds = datasets.Dataset.from_dict({"id": ["a", "a#neg0", "a#neg1", "b"], "query": [q, q, q, q],
                                     "passage": [SENTENCES[1]] * 4, "label": [1.0, 0.0, 0.0, 1.0]})
    data, meta, _ = codeswitch_dataset(ds, sw)
    assert len(set(data["query"][:3])) == 1 and data["query"][0] != q
    assert data["query"][3] != data["query"][0]  # another query: its own draw
    assert len(set(data["passage"][:3])) > 1  # passages keep their per-row draws
    assert sw.switch(q, "a#neg7", "query") == sw.switch(q, "a", "query")
    assert sw.switch(q, "a#neg7", "query", 2) == sw.switch(q, "a", "query", 2)


def test_p0_changes_nothing_and_p1_switches_every_covered_token():
    sw0, sw1 = switcher(p=0.0), switcher(p=1.0)
    for i, s in enumerate(SENTENCES):
        assert sw0.switch(s, i, "query") == (s, 0, sw0.switch(s, i, "query")[2])
        text, switched, content, covered = sw1.switch_counts(s, i, "query")
        assert switched == covered > 0


def test_multiword_longest_match_first():
    sw = switcher(p=1.0)
    assert sw.switch("new york search engine", 0, "query")[0] == "New York Suchmaschine"
    # not across punctuation
    assert sw.switch("new, york", 0, "query")[0] == "neu, Yorck"


@pytest.mark.parametrize("lang", ["ru", "ar", "zh"])
def test_non_latin_scripts_round_trip(tmp_path, lang):
    sw = switcher(langs=(lang,), p=1.0)
    texts = [sw.switch(s, i, "query")[0] for i, s in enumerate(SENTENCES)]
    assert all("Москва" in t and "東京" in t and "القاهرة" in t for t in texts[2:])
    assert LEXICONS[lang].entries["house"][0][0] in texts[1]
    ds = datasets.Dataset.from_dict({"query": texts})
    ds.to_parquet(str(tmp_path / "x.parquet"))
    assert datasets.Dataset.from_parquet(str(tmp_path / "x.parquet"))["query"] == texts


def test_ml_cs_mixes_languages_and_rng_is_per_example():
    sw = switcher(langs=("de", "ru", "zh"), p=1.0, variant="ml-cs")
    text = " ".join(["house dog"] * 30)
    out = sw.switch(text, "a", "passage")[0]
    assert {"Haus", "дом", "房子"} <= set(out.split())
    assert sw.switch(text, "a", "passage") == sw.switch(text, "a", "passage")
    assert sw.switch(text, "a", "passage") != sw.switch(text, "b", "passage")
    assert sw.switch(text, "a", "passage") != sw.switch(text, "a", "query")


def test_realised_ratio_close_to_p_times_coverage(fixtures):
    lex = read_pair_file(fixtures / "lexicons" / "en-de.txt", "en", "de")
    rows = [json.loads(l) for l in open(fixtures / "pairs.jsonl", encoding="utf-8")]
    ds = datasets.Dataset.from_list(rows)
    cfg = CodeSwitchConfig(query_langs=["de"], passage_langs=["de"], p=0.5, seed=3)
    _, meta, stats = codeswitch_dataset(ds, CodeSwitcher(cfg, {"de": lex}))
    overall = stats["overall"]
    assert overall["lexicon_coverage"] > 0.3
    assert overall["ratio"] == pytest.approx(0.5 * overall["lexicon_coverage"], abs=0.02)


def test_dynamic_transform_resamples_per_epoch():
    sw = switcher(p=0.5)
    ds = datasets.Dataset.from_dict({"id": ["a", "b"], "query": [SENTENCES[1]] * 2, "passage": [SENTENCES[0]] * 2})
    tf = dynamic_codeswitch_transform(sw, epoch=0)
    ds.set_transform(tf)
    e0 = [ds[i]["query"] for i in range(2)] * 1
    e0_again = [ds[i]["query"] for i in range(2)]
    seen = set()
    for e in range(1, 8):
        tf.set_epoch(e)
        seen.add(tuple(ds[i]["query"] for i in range(2)))
    assert e0 == e0_again and len(seen) > 1


def test_unknown_variant_and_missing_lexicon():
    with pytest.raises(CsirError, match="unknown variant"):
        CodeSwitchConfig(variant="xx-cs")
    with pytest.raises(CsirError, match="no lexicon for language"):
        CodeSwitcher(CodeSwitchConfig(query_langs=["fr"]), LEXICONS)


# ------------------------------------------------------------------ CLI
def csir(*args):
    return subprocess.run([sys.executable, "-m", "builders", *args], capture_output=True, text=True)


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cs(fixtures, out, *extra, num_proc="2", lexicon=None):
    return csir("codeswitch", "--input", str(fixtures / "pairs.jsonl"),
                "--lexicon", f"de={lexicon or fixtures / 'lexicons' / 'en-de.txt'}", "--variant", "bl-cs",
                "--query-lang", "de", "--passage-lang", "de", "--p", "0.5", "--seed", "1",
                "--num-proc", num_proc, "--output", str(out), *extra)


def test_cli_acceptance_invocation_and_byte_identical_outputs(tmp_path, fixtures):
    lexdir = tmp_path / "LEXDIR"
    r = csir("lexicon", "dict", "--format", "muse", "--input", str(fixtures / "lexicons" / "en-de.txt"),
             "--src", "en", "--tgt", "de", "--output", str(lexdir))
    assert r.returncode == 0, r.stderr
    r = run_cs(fixtures, tmp_path / "a", lexicon=lexdir)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["config"] == "bl-cs-p0.5-de-de" and 0.1 < summary["switch_ratio"]["train"] < 0.5
    ds = datasets.load_dataset(str(tmp_path / "a"), "bl-cs-p0.5-de-de", split="train")
    assert ds.column_names == ["query", "passage", "label"] and len(ds) == 200
    meta = datasets.load_dataset(str(tmp_path / "a"), "bl-cs-p0.5-de-de-meta", split="train")
    assert meta[0]["id"] == json.loads(open(fixtures / "pairs.jsonl").readline())["id"]
    assert run_cs(fixtures, tmp_path / "b", lexicon=lexdir).returncode == 0
    assert run_cs(fixtures, tmp_path / "c", num_proc="1", lexicon=lexdir).returncode == 0
    da, db, dc = digest(tmp_path / "a" / "data"), digest(tmp_path / "b" / "data"), digest(tmp_path / "c" / "data")
    assert da == db == dc
    manifest = json.loads((tmp_path / "a" / "build_manifest.json").read_text())
    assert manifest["variants"]["bl-cs-p0.5-de-de"]["codeswitch"]["seed"] == 1
    # --append adds a second variant to the same repo
    r = csir("codeswitch", "--input", str(fixtures / "pairs.jsonl"), "--lexicon", f"de={lexdir}",
             "--variant", "bl-cs", "--passage-lang", "de", "--output", str(tmp_path / "a"), "--append")
    assert r.returncode == 0, r.stderr
    assert len(datasets.load_dataset(str(tmp_path / "a"), "bl-cs-p0.5-en-de", split="train")) == 200
    assert len(datasets.load_dataset(str(tmp_path / "a"), "bl-cs-p0.5-de-de", split="train")) == 200


@pytest.mark.parametrize("case", ["bad_lexicon_line", "unknown_lang", "missing_column", "empty_file"])
def test_cli_bad_input_one_line_exit_2_no_output(tmp_path, fixtures, case):
    inp, lexicon, lang = fixtures / "pairs.jsonl", fixtures / "lexicons" / "en-de.txt", "de"
    if case == "bad_lexicon_line":
        lexicon = tmp_path / "lex.txt"
        lexicon.write_text("house Haus\nbroken line here\n", encoding="utf-8")
        expect = "lex.txt:2"
    elif case == "unknown_lang":
        lang, expect = "qq", "unknown language code 'qq'"
    elif case == "missing_column":
        inp = tmp_path / "rows.jsonl"
        inp.write_text('{"id": "1", "query": "a", "passage": "b", "label": 1}\n{"id": "2", "query": "c", "label": 0}\n',
                           encoding="utf-8")
        expect = "rows.jsonl:2: field 'passage' missing"
    else:
        inp = tmp_path / "empty.jsonl"
        inp.write_text("", encoding="utf-8")
        expect = "empty.jsonl: empty input file"
    out = tmp_path / "out"
    r = csir("codeswitch", "--input", str(inp), "--lexicon", f"{lang}={lexicon}", "--variant", "bl-cs",
             "--query-lang", lang, "--passage-lang", lang, "--output", str(out))
    assert r.returncode == 2
    assert expect in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists() and not list(tmp_path.glob(".out*"))
