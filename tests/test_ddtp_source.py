import datasets
import pytest

from builders.repo_writer import read_manifest, write_dataset_repo
from builders.sources.ddtp import ddtp_training_pairs, is_heldout, load_ddtp, parse_translation_file
from csir.errors import CsirError


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


def test_bm25_negatives_are_the_lexical_neighbours():
    from builders.sources.pairs import build_pairs

    passages = ["python web framework for fast web apps", "web framework written in ruby", "python library for images",
                "kernel module for wifi cards", "fonts for the latex typesetting system", "the game of chess",
                "python web framework for fast web apps"]  # an exact duplicate of the positive: never a negative
    queries = ["python web framework", "zebra quagga okapi", "q2", "q3", "q4", "q5", "q6"]
    ids = [f"p{i}" for i in range(len(passages))]
    hard = build_pairs(ids, queries, passages, negatives=2, seed=0, negatives_from="bm25")
    negs = [r["passage"] for r in hard if r["id"].startswith("p0#")]
    assert negs == ["web framework written in ruby", "python library for images"]
    # no term in common with any passage: topped up from the keyed random sample, still 2 negatives
    assert len([r for r in hard if r["id"].startswith("p1#")]) == 2
    assert hard.to_list() == build_pairs(ids, queries, passages, negatives=2, seed=0, negatives_from="bm25").to_list()
    with pytest.raises(ValueError, match="negatives_from"):
        build_pairs(ids, queries, passages, negatives_from="dense")


def test_bm25_negatives_are_harder_than_random_on_ddtp(fixtures):
    import re

    def overlap(rows):
        words = lambda t: set(re.findall(r"\w{4,}", t.lower()))  # noqa: E731
        negs = [r for r in rows if r["label"] == 0.0]
        return sum(bool(words(r["query"]) & words(r["passage"])) for r in negs) / len(negs)

    rand = ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3)
    hard = ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3, negatives_from="bm25")
    assert len(hard) == len(rand) and hard["id"] == rand["id"]
    assert [r for r in hard if r["label"] == 1.0] == [r for r in rand if r["label"] == 1.0]
    assert overlap(hard) > 2 * overlap(rand)
    de = ddtp_training_pairs(fixtures / "ddtp", query_lang="de", passage_lang="de", negatives=4, seed=3,
                             negatives_from="bm25")
    assert overlap(de) > overlap(ddtp_training_pairs(fixtures / "ddtp", query_lang="de", passage_lang="de",
                                                     negatives=4, seed=3))


def test_near_duplicates_of_the_positive_are_never_negatives():
    from builders.sources.pairs import build_pairs, jaccard, truncated_words

    head = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    passages = [head + " this package holds the library",
                head + " this package holds the development files",   # sibling: identical once truncated
                "kernel module for wifi cards alpha", "fonts for the latex typesetting system alpha",
                "the game of chess alpha beta", "a web browser alpha", "an editor alpha beta"]
    queries = ["alpha beta library"] + [f"q{i}" for i in range(1, len(passages))]
    ids = [f"p{i}" for i in range(len(passages))]
    assert jaccard(truncated_words(passages[0], 12), truncated_words(passages[1], 12)) == 1.0
    plain = build_pairs(ids, queries, passages, negatives=3, seed=0, negatives_from="bm25")
    assert passages[1] in [r["passage"] for r in plain if r["id"].startswith("p0#")]  # the label noise
    clean = build_pairs(ids, queries, passages, negatives=3, seed=0, negatives_from="bm25", near_duplicate_words=12)
    negs = [r["passage"] for r in clean if r["id"].startswith("p0#")]
    assert len(negs) == 3 and passages[1] not in negs
    # untruncated, the sibling differs enough to stay (Jaccard 16/19 < 0.9)
    assert passages[1] in [r["passage"] for r in build_pairs(ids, queries, passages, negatives=3, seed=0,
                                                              negatives_from="bm25", near_duplicate_words=100)
                           if r["id"].startswith("p0#")]
    # same package family: dropped even when the texts differ
    groups = ["foo", "bar", "foo", "baz", "qux", "quux", "corge"]
    fam = build_pairs(ids, queries, passages, negatives=3, seed=0, negatives_from="bm25", near_duplicate_words=100,
                      passage_groups=groups)
    assert passages[2] not in [r["passage"] for r in fam if r["id"].startswith("p0#")]


def test_package_family():
    from builders.sources.ddtp import package_family

    assert {package_family(p) for p in ("libfoo2", "libfoo-dev", "foo-doc", "python3-foo", "libfoo-perl", "foo")} \
        == {"foo"}
    assert package_family("libghc-yaml-prof") == package_family("libghc-yaml-dev") != package_family("libghc-aeson-dev")
    assert package_family("gcc-12") == "gcc" and package_family("lib") == "lib"


def test_full_pool_and_dedupe_are_opt_in(fixtures):
    base = ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3, limit=40, negatives_from="bm25")
    same = ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3, limit=40, negatives_from="bm25",
                               negative_pool="queries", near_duplicate_words=None)
    assert same.to_list() == base.to_list()  # defaults: finished runs keep their data
    full = ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3, limit=40, negatives_from="bm25",
                               negative_pool="all", near_duplicate_words=96)
    assert [r for r in full if r["label"] == 1.0] == [r for r in base if r["label"] == 1.0]
    every = set(ddtp_training_pairs(fixtures / "ddtp", negatives=4, seed=3)["passage"])
    kept = {r["passage"] for r in base if r["label"] == 1.0}
    negs = {r["passage"] for r in full if r["label"] == 0.0}
    assert negs <= every and negs - kept  # negatives come from packages whose queries were not kept
    assert len(full) == 40 * 5
    with pytest.raises(ValueError, match="negative_pool"):
        ddtp_training_pairs(fixtures / "ddtp", negative_pool="some")
