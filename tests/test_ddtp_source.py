import datasets
import pytest

from builders.errors import CsirError
from builders.repo_writer import read_manifest, write_dataset_repo
from builders.sources.ddtp import ddtp_training_pairs, is_heldout, load_ddtp, parse_translation_file


def test_parse_fixture_joins_languages(fixtures):
    tables = load_ddtp(fixtures / "ddtp", ["en", "de"])
    assert len(tables["en"]) == len(tables["de"]) == 300
    md5 = next(iter(tables["de"]))
    en, de = tables["en"][md5], tables["de"][md5]
    assert en.package == de.package and en.short != de.short
    assert "\n" not in en.short and en.long


def test_training_pairs_exclude_heldout_and_are_deterministic(fixtures):
    a = ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3)
    b = ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3)
    assert a.to_list() == b.to_list()
    assert len(a) == 180 * 5
    assert not any(is_heldout(i.split("#")[0]) for i in a["id"])
    assert sum(a["label"]) == 180
    # each negative differs from the positive of its query
    pos = {r["id"]: r["passage"] for r in a if r["label"] == 1.0}
    assert all(r["passage"] != pos[r["id"].split("#")[0]] for r in a if r["label"] == 0.0)


def test_bad_record_names_file_and_line(tmp_path):
    bad = tmp_path / "Translation-de"
    bad.write_text("Package: x\nDescription-de: kurz\n lang\n", encoding="utf-8")
    with pytest.raises(CsirError, match=r"Translation-de:1: field 'Description-md5'"):
        list(parse_translation_file(bad))


def test_writer_layout_loads_every_config(tmp_path):
    ds = datasets.Dataset.from_dict({"query": ["q"], "passage": ["p"], "label": [1.0]})
    out = write_dataset_repo(tmp_path / "repo", {"a": {"train": ds}, "b": {"train": ds, "dev": ds}},
                             card={"pretty_name": "t", "language": ["en"]}, manifest={"seed": 1})
    assert (out / "README.md").read_text().startswith("---\n")
    assert read_manifest(out)["configs"]["b"]["dev"]["num_rows"] == 1
    assert datasets.load_dataset(str(out), "b", split="dev").column_names == ["query", "passage", "label"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
