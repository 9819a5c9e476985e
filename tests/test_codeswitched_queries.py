"""`csir evalset codeswitch-queries`: code-switched query subsets from any MTEB-layout set, recorded in the card,
evaluated like any other subset; CSR-L-style sets (mixed-language queries, MTEB layout) read as they are."""

import json
import sys
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

from csir.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.evaluation.tiny_models import build_bi_encoder  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
LEX = FIXTURES / "lexicons" / "en-de.txt"


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("csq")
    assert main(["evalset", "ddtp", "--ddtp-dir", str(FIXTURES / "ddtp"), "--output", str(root / "ev"),
                 "--langs", "en,de", "--pairs", "en-en,de-en", "--top-k", "20"]) == 0
    argv = ["evalset", "codeswitch-queries", "--input", str(root / "ev"), "--lexicon", f"de={LEX}", "--langs", "de",
            "--p", "0.5,1.0", "--seed", "3"]
    assert main([*argv, "--output", str(root / "cs")]) == 0
    assert main([*argv, "--output", str(root / "cs-again")]) == 0
    return root


def test_subsets_card_and_determinism(sets):
    cs = sets / "cs"
    card = DatasetCard.load(cs / "README.md")
    names = {c["config_name"] for c in card.data.to_dict()["configs"]}
    assert {"eng-eng-queries", "eng-eng-cs-deu-p0.5-queries", "eng-eng-cs-deu-p1-corpus",
            "eng-eng-cs-deu-p1-qrels", "eng-eng-cs-deu-p1-top_ranked"} <= names
    assert not any(n.startswith("deu-eng") for n in names)  # German queries are not switched from English
    manifest = json.loads((cs / "build_manifest.json").read_text())
    assert manifest["parameters"]["p_grid"] == [0.5, 1.0] and manifest["parameters"]["seed"] == 3
    assert manifest["parameters"]["lexicons"] == {"de": ["en-de.txt"]}
    r05 = manifest["subsets"]["eng-eng-cs-deu-p0.5"]["switch_ratio"]
    r1 = manifest["subsets"]["eng-eng-cs-deu-p1"]["switch_ratio"]
    assert 0 < r05 < r1 <= 1  # more switching at higher p
    assert "realised switch ratio" in card.text and f"{r1:.3f}" in card.text
    clean = datasets.load_dataset(str(cs), "eng-eng-queries", split="test")
    switched = datasets.load_dataset(str(cs), "eng-eng-cs-deu-p1-queries", split="test")
    assert clean["id"] == switched["id"]
    assert sum(a != b for a, b in zip(clean["text"], switched["text"])) > len(clean) // 2
    for f in sorted((cs / "data").rglob("*.parquet")):  # same seed, same bytes
        assert f.read_bytes() == (sets / "cs-again" / f.relative_to(cs)).read_bytes(), f
    assert str(sets) not in (cs / "README.md").read_text()


def test_evaluate_code_switched_subsets(sets):
    bi = build_bi_encoder(sets / "bi")
    out = sets / "res"
    assert main(["evaluate", "--model", str(bi), "--model-name", "tiny", "--dataset", str(sets / "cs"),
                 "--subsets", "eng-eng,eng-eng-cs-deu-p1", "--output", str(out), "--no-plot"]) == 0
    model_dir = next((out / "tiny").iterdir())
    task = json.loads((model_dir / "cs.json").read_text())
    rows = {s["hf_subset"]: s for s in task["scores"]["test"]}
    assert rows["eng-eng-cs-deu-p1"]["languages"] == ["eng-Latn", "deu-Latn"]
    assert rows["eng-eng"]["languages"] == ["eng-Latn"]


def test_csrl_style_set_reads_as_is(sets, tmp_path):
    """A CSR-L-style set: one `default` subset (corpus / queries / default qrels) with mixed-language queries."""
    src = sets / "cs"
    dest = tmp_path / "csrl"
    readme = ["---", "configs:"]
    for config, role in (("corpus", "eng-eng-corpus"), ("queries", "eng-eng-cs-deu-p0.5-queries"),
                         ("default", "eng-eng-qrels")):
        ds = datasets.load_dataset(str(src), role, split="test")
        (dest / config).mkdir(parents=True)
        ds.to_parquet(str(dest / config / "test.parquet"))
        readme += [f"- config_name: {config}", "  data_files:", "  - split: test", f"    path: {config}/test.parquet"]
    (dest / "README.md").write_text("\n".join(readme + ["---", ""]))
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(sets / "bi" / "model"), "--model-name", "tiny", "--dataset", str(dest),
                 "--output", str(out), "--no-plot"]) == 0
    r = json.loads(next(out.rglob("default.json")).read_text())
    assert r["subset"] == "default" and r["scores"]["test"][0]["num_queries"] > 10
