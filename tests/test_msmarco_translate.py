"""`csir msmarco-translate`: MS MARCO pairs joined with mMARCO translations (tests/fixtures/msmarco, /mmarco)."""

import shutil
from pathlib import Path

import datasets
import pytest

from builders.repo_writer import read_manifest, write_dataset_repo
from builders.sources.msmarco import msmarco_stream_pairs, read_id_text
from csir.cli import main as csir

ROOT = Path(__file__).resolve().parents[1]
MS = ROOT / "tests/fixtures/msmarco"
MM = ROOT / "tests/fixtures/mmarco"
MM_FILES = {"query": "data/google/queries/train/{}_queries.train.tsv", "passage": "data/google/collections/{}_collection.tsv"}


def texts(kind: str, name: str, root: Path = MM) -> dict[str, str]:
    return dict(read_id_text(root / MM_FILES[kind].format(name)))


def load(folder, config):
    return datasets.load_dataset(str(folder), config, split="train")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("msmarco") / "pairs"
    assert csir(["msmarco-pairs", "--source", str(MS), "--negatives", "4", "--seed", "1", "--output", str(out)]) == 0
    return out


def translate(pairs, output, *extra, mmarco=MM):
    return csir(["msmarco-translate", "--pairs", str(pairs), "--mmarco-dir", str(mmarco), *map(str, extra),
                 "--output", str(output)])


def test_pairs_record_the_msmarco_ids(pairs):
    data, meta = load(pairs, "pairs"), load(pairs, "pairs-meta")
    assert data.column_names == ["id", "query", "passage", "label"] and meta.column_names == ["id", "qid", "pid"]
    assert data["id"] == meta["id"] and len(data) == 60
    coll, queries = dict(read_id_text(MS / "collection.tsv")), dict(read_id_text(MS / "queries.train.tsv"))
    assert data["query"] == [queries[q] for q in meta["qid"]]
    assert data["passage"] == [coll[p] for p in meta["pid"]]
    stream = msmarco_stream_pairs(MS, max_examples=10, with_ids=True, progress=False)
    assert stream.column_names == ["id", "query", "passage", "label", "qid", "pid"]
    assert stream["passage"] == [coll[p] for p in stream["pid"]] and all(i.startswith(f"{q}@")
                                                                         for i, q in zip(stream["id"], stream["qid"]))


def test_translated_rows_follow_the_pairs(pairs, tmp_path):
    out = tmp_path / "msmarco-translated"
    assert translate(pairs, out, "--lang", "de,it") == 0
    data, meta = load(pairs, "pairs"), load(pairs, "pairs-meta")
    for lang, name in (("de", "german"), ("it", "italian")):
        ds = load(out, lang)
        assert ds.column_names == ["query", "passage", "label"]
        q, p = texts("query", name), texts("passage", name)
        assert ds["query"] == [q[i] for i in meta["qid"]] and ds["passage"] == [p[i] for i in meta["pid"]]
        assert ds["label"] == data["label"]
        assert not set(ds["query"]) & set(data["query"]) and not set(ds["passage"]) & set(data["passage"])
        assert load(out, f"{lang}-meta").to_list() == meta.to_list()
    assert load(out, "de")["query"][0] == texts("query", "german")[meta["qid"][0]]
    man = read_manifest(out)
    assert man["kind"] == "msmarco-translate-train" and man["statistics"]["de"]["rows"] == 60
    assert len(man["mmarco"]["files"]["data/google/collections/german_collection.tsv"]) == 64
    assert man["pairs"]["build"]["kind"] == "msmarco-training-pairs" and len(man["pairs"]["files"]) == 4
    assert datasets.load_dataset(str(out), split="train")["query"] == load(out, "de")["query"]  # default config


def test_queries_only_keeps_english_passages(pairs, tmp_path):
    out = tmp_path / "q"
    assert translate(pairs, out, "--lang", "German", "--queries-only") == 0
    ds, data, meta = load(out, "de-queries"), load(pairs, "pairs"), load(pairs, "pairs-meta")
    q = texts("query", "german")
    assert ds["query"] == [q[i] for i in meta["qid"]] and ds["passage"] == data["passage"]
    assert read_manifest(out)["mmarco"]["files"].keys() == {"data/google/queries/train/german_queries.train.tsv"}


def test_rebuild_is_byte_identical(pairs, tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert translate(pairs, out, "--lang", "de") == 0

    def files(folder):
        return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}

    assert files(outs[0]) == files(outs[1]) and len(files(outs[0])) == 4


def test_missing_translation_is_an_error_or_dropped(pairs, tmp_path, capsys):
    mm = tmp_path / "mmarco"
    shutil.copytree(MM, mm)
    coll = mm / MM_FILES["passage"].format("german")
    meta = load(pairs, "pairs-meta")
    gone = meta["pid"][1]  # a negative of the first query
    lines = coll.read_text(encoding="utf-8").splitlines(keepends=True)
    coll.write_text("".join(x for x in lines if not x.startswith(f"{gone}\t")), encoding="utf-8")
    out = tmp_path / "out"
    assert translate(pairs, out, "--lang", "it,de", mmarco=mm) == 2
    err = capsys.readouterr().err
    assert "german_collection.tsv: 1 passage id(s) used by the pairs not found (e.g. " + gone + ")" in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # nothing written, no temp left
    assert translate(pairs, out, "--lang", "de", "--on-missing", "drop", mmarco=mm) == 0
    ds, kept = load(out, "de"), load(out, "de-meta")
    n_gone = meta["pid"].count(gone)
    assert len(ds) == 60 - n_gone and gone not in kept["pid"]
    assert kept["id"] == [i for i, p in zip(meta["id"], meta["pid"]) if p != gone]  # order kept
    assert read_manifest(out)["statistics"]["de"] | {"translated": None} == {
        "rows": 60 - n_gone, "rows_dropped": n_gone, "missing_qids": 0, "missing_pids": 1, "translated": None}


def test_bad_inputs_exit_2(pairs, tmp_path, capsys):
    old = tmp_path / "old-pairs"  # a pairs folder without the ids (built before pairs-meta existed)
    write_dataset_repo(old, {"pairs": {"train": load(pairs, "pairs")}}, card={}, manifest={})
    assert translate(old, tmp_path / "o", "--lang", "de") == 2
    assert "pairs-meta" in capsys.readouterr().err
    assert translate(pairs, tmp_path / "o", "--lang", "fr") == 2  # the fixture has no French
    assert "french_queries.train.tsv: mMARCO file not found" in capsys.readouterr().err
    assert translate(pairs, tmp_path / "o", "--lang", "sv") == 2
    assert "'sv' is not an mMARCO language" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_paper_translate_train_config_dry_run(pairs, tmp_path):
    """configs/ce-mminilm-translate-train-de.yaml unchanged but for scale, on the folder built above."""
    import torch

    from training.config import load_config
    from training.loop import train

    data = tmp_path / "msmarco-translated"
    assert translate(pairs, data, "--lang", "de") == 0
    out = tmp_path / "model"
    cfg = load_config(ROOT / "configs/ce-mminilm-translate-train-de.yaml",
                      [("data.path", str(data)), ("model", "tiny-random-bert"), ("max_steps", 2), ("batch_size", 4),
                       ("mixed_precision", "no"), ("max_length", 64), ("output_dir", str(out)), ("tracker", None)])
    assert cfg.data.name == "de"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(cfg)
    finally:
        torch.set_num_threads(threads)
    assert result.steps == 2
    text = (out / "README.md").read_text()
    assert "name: de" in text and "| 60 |" in text
