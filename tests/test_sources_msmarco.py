"""MS MARCO / mMARCO readers on fixtures in the real formats (tests/fixtures/msmarco, tests/fixtures/mmarco)."""

import gzip
from collections import Counter

import datasets
import pytest

from builders.sources.mmarco import MMARCO_LANGUAGES, MMarco, load_mmarco_translations, mmarco_language, mmarco_name
from builders.sources.msmarco import (
    HubMsMarco,
    TsvMsMarco,
    load_msmarco_dev,
    msmarco_stream_pairs,
    msmarco_training_pairs,
    open_msmarco,
    read_id_text,
    read_qrels,
    read_top1000,
    read_triples,
)
from csir.errors import CsirError

RND_SHUF = "msmarco-qidpidtriples.rnd-shuf.train.tsv"
FULL2 = "qidpidtriples.train.full.2.tsv.gz"


@pytest.fixture
def ms(fixtures):
    return fixtures / "msmarco"


@pytest.fixture
def mm(fixtures):
    return MMarco(fixtures / "mmarco")


def triples_by_query(path):
    out = {}
    for q, p, n in read_triples(path):
        g = out.setdefault(q, {"pos": set(), "neg": []})
        g["pos"].add(p)
        if n not in g["neg"]:
            g["neg"].append(n)
    return out


# ------------------------------------------------------------------------------------------------ formats

def test_tsv_formats_parse(ms):
    coll = dict(read_id_text(ms / "collection.tsv"))
    assert len(coll) == 38 and coll["802219"].startswith("Water freezes")
    plain, gz = list(read_triples(ms / RND_SHUF)), list(read_triples(ms / FULL2))
    assert len(plain) == 74 and Counter(plain) == Counter(gz) and plain != gz  # same triples, other order
    assert all(p in coll and n in coll for _, p, n in plain)
    qrels = read_qrels(ms / "qrels.dev.small.tsv")
    assert list(qrels) == ["1048585", "2", "524332", "1048995", "1103153", "1090170"]
    assert qrels["2"] == {"7210045": 1}
    top = list(read_top1000(ms / "top1000.dev"))
    assert len(top) == 47 and all(coll[pid] == passage for _, pid, _, passage in top)


def test_open_detects_layouts(ms):
    tsv = open_msmarco(ms)
    assert isinstance(tsv, TsvMsMarco) and tsv.triples.name == RND_SHUF  # the paper's file is preferred
    assert open_msmarco(ms, triples=FULL2).triples.name == FULL2
    hub = open_msmarco(ms / "hub")
    assert isinstance(hub, HubMsMarco)
    assert list(hub.iter_triples()) == list(tsv.iter_triples())  # the Hub fixture holds the rnd-shuf triples
    assert dict(hub.iter_passages()) == dict(tsv.iter_passages())
    assert dict(hub.iter_queries()) == dict(tsv.iter_queries())
    assert isinstance(open_msmarco("sentence-transformers/msmarco", "main"), HubMsMarco)
    with pytest.raises(CsirError, match="no such folder"):
        open_msmarco(ms / "nope")


def test_hub_layout_loads_with_datasets(ms):
    for config, cols in {"corpus": ["passage_id", "passage"], "queries": ["query_id", "query"],
                         "triplets": ["query_id", "positive_id", "negative_id"]}.items():
        ds = datasets.load_dataset(str(ms / "hub"), config, split="train")
        assert ds.column_names == cols and all(isinstance(v, str) for v in ds[0].values())


# ------------------------------------------------------------------------------------------------ pairs

def test_pairs_first_negatives_in_file_order_and_ratio(ms):
    stats = {}
    ds = msmarco_training_pairs(ms, negatives=4, seed=0, stats=stats, progress=False)
    assert ds.column_names == ["id", "query", "passage", "label"]
    assert stats["queries_used"] == 12 and stats["queries_dropped_short"] == 1 and len(ds) == 60
    coll = dict(read_id_text(ms / "collection.tsv"))
    text2pid = {t: p for p, t in coll.items()}
    groups = triples_by_query(ms / RND_SHUF)
    by_q = {}
    for r in ds:
        by_q.setdefault(r["id"].split("#")[0], []).append(r)
    assert "843284" not in by_q  # only 2 negatives in the triples
    for qid, rows in by_q.items():
        assert [r["label"] for r in rows] == [1.0, 0.0, 0.0, 0.0, 0.0]  # 1 positive : 4 negatives
        assert [r["id"] for r in rows] == [qid] + [f"{qid}#neg{k}" for k in range(4)]
        assert text2pid[rows[0]["passage"]] in groups[qid]["pos"]
        assert [text2pid[r["passage"]] for r in rows[1:]] == groups[qid]["neg"][:4]
    # queries in order of first appearance in the file
    order = list(dict.fromkeys(q for q, _, _ in read_triples(ms / RND_SHUF)))
    assert list(by_q) == [q for q in order if q != "843284"]


def test_pairs_deterministic_and_seeded_sampling(ms):
    a = msmarco_training_pairs(ms, selection="sample", seed=1, progress=False)
    b = msmarco_training_pairs(ms, selection="sample", seed=1, progress=False)
    c = msmarco_training_pairs(ms, selection="sample", seed=2, progress=False)
    assert a.to_list() == b.to_list()
    assert a["passage"] != c["passage"]  # another seed draws other negatives
    # the sample does not depend on line order: the grouped .gz file gives the same negatives per query
    g = msmarco_training_pairs(open_msmarco(ms, triples=FULL2), selection="sample", seed=1, progress=False)
    assert sorted(zip(a["id"], a["passage"])) == sorted(zip(g["id"], g["passage"]))
    first = msmarco_training_pairs(ms, seed=0, progress=False)
    assert first.to_list() == msmarco_training_pairs(ms, seed=99, progress=False).to_list()  # "first" ignores seed
    hub = msmarco_training_pairs(ms / "hub", seed=0, progress=False)
    assert hub.to_list() == first.to_list()


def test_pairs_caps_and_exclusions(ms):
    order = list(dict.fromkeys(q for q, _, _ in read_triples(ms / RND_SHUF)))
    three = msmarco_training_pairs(ms, max_queries=3, progress=False)
    kept = list(dict.fromkeys(i.split("#")[0] for i in three["id"]))
    assert kept == [q for q in order[:3] if q != "843284"] and len(three) == 5 * len(kept)
    ex = msmarco_training_pairs(ms, exclude_qids=[order[0]], progress=False)
    assert order[0] not in {i.split("#")[0] for i in ex["id"]} and len(ex) == 55
    with pytest.raises(CsirError, match="no query has 7 distinct negatives"):
        msmarco_training_pairs(ms, negatives=7, progress=False)


def test_pairs_stream_the_collection_once(ms):
    class Counting(TsvMsMarco):
        calls = 0

        def iter_passages(self):
            Counting.calls += 1
            return iter(list(super().iter_passages()))

    src = Counting.from_folder(ms)
    ds = msmarco_training_pairs(src, progress=False)
    assert Counting.calls == 1 and len(ds) == 60


def test_stream_recipe_ratio(ms):
    stats = {}
    ds = msmarco_stream_pairs(ms, negatives=4, max_examples=50, stats=stats, progress=False)
    assert len(ds) == 50 and ds["label"] == [1.0 if k % 5 == 0 else 0.0 for k in range(50)]
    assert len(set(ds["id"])) == 50 and stats["positives"] == 10
    triples = list(read_triples(ms / RND_SHUF))
    coll = dict(read_id_text(ms / "collection.tsv"))
    assert ds[0]["passage"] == coll[triples[0][1]] and ds[1]["passage"] == coll[triples[1][2]]


# ------------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("name,content,pattern", [
    ("t.tsv", "1\t2\t3\n4\t5\n", r"t.tsv:2: expected 3 fields"),
    ("t.tsv", "1\t2\t3\nqid\t5\t6\n", r"t.tsv:2: field 'qid': expected a numeric id"),
])
def test_malformed_triples_name_file_and_line(tmp_path, name, content, pattern):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(CsirError, match=pattern):
        list(read_triples(tmp_path / name))


def test_malformed_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "collection.tsv"
    bad.write_text("1\tfine\n\n2 no tab here\n", encoding="utf-8")
    with pytest.raises(CsirError, match=r"collection.tsv:3: expected 'id<TAB>text'"):
        list(read_id_text(bad))
    q = tmp_path / "qrels.tsv"
    q.write_text("1 0 2 1\n1 0 3 yes\n", encoding="utf-8")
    with pytest.raises(CsirError, match=r"qrels.tsv:2: field 'relevance'"):
        read_qrels(q)
    top = tmp_path / "top1000.dev"
    top.write_text("1\t2\tquery only\n", encoding="utf-8")
    with pytest.raises(CsirError, match=r"top1000.dev:1: expected 4 tab-separated fields"):
        list(read_top1000(top))
    latin = tmp_path / "latin1.tsv"
    latin.write_bytes("1\tok\n2\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(CsirError, match=r"latin1.tsv:2: not valid UTF-8"):
        list(read_id_text(latin))
    broken = tmp_path / "x.tsv.gz"
    broken.write_bytes(gzip.compress(b"1\t2\t3\n")[:-12])
    with pytest.raises(CsirError, match=r"x.tsv.gz: cannot read"):
        list(read_triples(broken))


def test_missing_passage_names_the_collection(ms, tmp_path):
    lines = (ms / "collection.tsv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "collection.tsv").write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")  # drop one pid
    src = TsvMsMarco(tmp_path / "collection.tsv", ms / "queries.train.tsv", ms / RND_SHUF)
    dropped = lines[0].split("\t")[0]
    with pytest.raises(CsirError, match=rf"collection.tsv: \d+ passage id\(s\) used by the triples not found "
                                        rf"\(e.g. {dropped}"):
        msmarco_training_pairs(src, negatives=6, progress=False)


def test_hub_layout_errors(tmp_path, ms):
    bad = tmp_path / "hub"
    bad.mkdir()
    (bad / "README.md").write_text("---\nconfigs:\n- config_name: corpus\n  data_files: corpus/*.parquet\n---\n")
    with pytest.raises(CsirError, match="lacks queries, triplets"):
        open_msmarco(bad)
    datasets.Dataset.from_dict({"pid": ["1"], "text": ["x"]}).to_parquet(str(tmp_path / "c" / "train.parquet"))
    (tmp_path / "c" / "README.md").write_text("---\nconfigs:\n- config_name: corpus\n  data_files:\n  - split: train\n"
                                              "    path: train.parquet\n---\n")
    src = HubMsMarco(str(tmp_path / "c"))
    with pytest.raises(CsirError, match=r"config 'corpus': field 'passage_id' missing"):
        list(src.iter_passages())


# ------------------------------------------------------------------------------------------------ dev set

def test_dev_set(ms):
    dev = load_msmarco_dev(ms, progress=False)
    assert list(dev.queries) == list(dev.qrels) and len(dev.queries) == 6
    assert dev.queries["524332"] == "why does honey not spoil"
    assert all(len(c) == 8 for q, c in dev.candidates.items() if q != "1090170")
    assert "2605778" not in dev.candidates["1090170"]  # BM25 missed its relevant passage
    coll = dict(read_id_text(ms / "collection.tsv"))
    assert all(dev.passages[p] == coll[p] for c in dev.candidates.values() for p in c)
    assert dev.stats()["queries_with_relevant_candidate"] == 5
    two = load_msmarco_dev(ms, max_queries=2, with_passages=False, progress=False)
    assert list(two.qrels) == ["1048585", "2"] and two.passages == {}
    # queries from top1000's query column when no queries file is given
    alt = load_msmarco_dev(qrels=ms / "qrels.dev.small.tsv", top1000=ms / "top1000.dev", progress=False)
    assert alt.queries == dev.queries


# ------------------------------------------------------------------------------------------------ mMARCO

@pytest.mark.parametrize("code,iso", [("de", "de"), ("deu", "de"), ("German", "de"), ("de-DE", "de"),
                                      ("pt_BR", "pt"), ("zho", "zh"), ("id", "id"), ("arabic", "ar")])
def test_mmarco_language_mapping(code, iso):
    assert mmarco_language(code) == iso
    assert mmarco_name(code) == MMARCO_LANGUAGES[iso]


def test_mmarco_language_unknown():
    assert len(MMARCO_LANGUAGES) == 14
    with pytest.raises(CsirError, match="'sv' is not an mMARCO language"):
        mmarco_language("sv")


def test_mmarco_translations_join_the_dev_set(ms, mm, fixtures):
    dev = load_msmarco_dev(ms, progress=False)
    pids = {p for c in dev.candidates.values() for p in c}
    for lang in ("de", "it", "ru"):
        q = mm.queries(lang, dev.queries, split="dev")
        p = load_mmarco_translations(lang, pids, source=mm)
        assert set(q) == set(dev.queries) and set(p) == pids
        assert all(q[i] != dev.queries[i] for i in q) and all(p[i] != dev.passages[i] for i in p)
    assert mm.queries("de", ["524332"])["524332"] == "warum verdirbt honig nicht"
    assert "Мёд" in mm.passages("ru", ["8003311"])["8003311"]
    assert mm.passages("en", pids) == {p: dev.passages[p] for p in pids}  # English = the original collection
    assert mm.dev_qrels() == dev.qrels
    assert mm.bm25_run("en") == dev.candidates
    train = load_mmarco_translations("it", ["571018"], kind="queries", split="train",
                                     source=str(fixtures / "mmarco"))
    assert train == {"571018": "qual è la capitale dell'australia"}
    assert set(mm.config_files("queries-german")) == {"train", "dev", "dev.full"}
    assert mm.config_files("collection-italian")["collection"].name == "italian_collection.tsv"
    desc = mm.describe()
    assert "data/google/collections/german_collection.tsv" in desc["files"]


def test_mmarco_missing_ids_and_files(mm, fixtures):
    with pytest.raises(CsirError, match=r"german_collection.tsv: 1 of 2 requested passage ids not found \(e.g. 42\)"):
        mm.passages("de", ["802219", "42"])
    assert mm.passages("de", ["802219", "42"], strict=False).keys() == {"802219"}
    with pytest.raises(CsirError, match=r"french_collection.tsv: mMARCO file not found"):
        mm.passages("fr", ["1"])
    with pytest.raises(CsirError, match="split: expected one of"):
        mm.queries("de", split="test")
    with pytest.raises(CsirError, match="no data/ folder"):
        MMarco(fixtures / "msmarco")


# ------------------------------------------------------------------------------------------------ CLI

def test_cli_writes_a_loadable_repo_deterministically(ms, tmp_path):
    from builders.repo_writer import read_manifest
    from csir.cli import main

    outs = []
    for name in ("a", "b"):
        rc = main(["msmarco-pairs", "--source", str(ms), "--selection", "sample", "--seed", "1",
                   "--output", str(tmp_path / name)])
        assert rc == 0
        outs.append(tmp_path / name)
    ds = datasets.load_dataset(str(outs[0]), "pairs", split="train")
    assert len(ds) == 60 and ds.column_names == ["id", "query", "passage", "label"]
    pa = sorted(outs[0].rglob("*.parquet"))
    assert [p.read_bytes() for p in pa] == [p.read_bytes() for p in sorted(outs[1].rglob("*.parquet"))]
    man = read_manifest(outs[0])
    assert man["statistics"]["queries_used"] == 12 and man["parameters"]["selection"] == "sample"
    assert len(man["source"]["triples"]["sha256"]) == 64
    assert main(["msmarco-pairs", "--source", str(tmp_path / "missing"), "--output", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "c").exists()


def test_hub_folder_rebuilt_in_place_is_reread(ms, tmp_path):
    import shutil

    hub = tmp_path / "hub"
    shutil.copytree(ms / "hub", hub)
    before = dict(open_msmarco(hub).iter_passages())
    pq = hub / "corpus" / "train-00000-of-00001.parquet"
    pq.unlink()
    datasets.Dataset.from_dict({"passage_id": ["1"], "passage": ["rebuilt"]}).to_parquet(str(pq))
    after = dict(open_msmarco(hub).iter_passages())
    assert len(before) == 38 and after == {"1": "rebuilt"}
