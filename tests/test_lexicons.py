import gzip
import subprocess
import sys

import datasets
import numpy as np
import pytest

from builders.lexicons import Lexicon, load_lexicon, precision_at_k, read_pair_file
from builders.lexicons.clwe import build_clwe_lexicon
from builders.lexicons.dictionaries import read_ding, read_freedict
from builders.lexicons.titles import iter_sql_rows, read_titles_tsv, read_wikipedia_dumps
from csir.errors import CsirError


def csir(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "builders", *args], capture_output=True, text=True, cwd=cwd)


def test_ding_aligns_subentries_and_strips_annotations(tmp_path):
    f = tmp_path / "de-en"
    f.write_text("Hund {m} [zool.] | Hunde {pl} :: dog | dogs\n"
                 "laufen {vi}; rennen {vi} :: to run\n"
                 "Haus {n} :: house; home\n", encoding="utf-8")
    lex = read_ding(f, "en", "de")
    assert lex.entries["dog"][0][0] == "Hund"
    assert lex.entries["dogs"][0][0] == "Hunde"
    assert [t for t, _ in lex.entries["run"]] == ["laufen", "rennen"]
    assert lex.entries["home"][0][0] == "Haus"
    back = read_ding(f, "de", "en")
    assert back.entries["hund"][0][0] == "dog"


def test_real_ding_and_freedict_fixtures(fixtures):
    ding = read_ding(fixtures / "lexicons" / "ding-de-en.txt", "en", "de")
    assert len(ding) > 50
    fd = read_freedict(fixtures / "lexicons" / "freedict-eng-deu.index", "en", "de")
    assert fd.entries["dog"][0][0] == "Hund"      # the sense with usage examples wins over technical senses
    assert fd.entries["house"][0][0] == "Haus"
    assert fd.entries["library"][0][0] == "Bibliothek"


def test_muse_reader_errors_name_file_and_line(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text("house Haus\nthis line has three\n", encoding="utf-8")
    with pytest.raises(CsirError, match=r"bad.txt:2: expected"):
        read_pair_file(f, "en", "de")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CsirError, match="empty lexicon"):
        read_pair_file(empty, "en", "de")


def test_ranking_and_precision_at_k():
    lex = Lexicon.from_pairs([("dog", "Köter", 0.2), ("dog", "Hund", 0.9), ("Cat", "Katze", 1.0),
                              ("bird", "Vogel", 1.0)], "en", "de")
    assert [t for t, _ in lex.entries["dog"]] == ["Hund", "Köter"]
    assert "cat" in lex.entries  # lower-cased keys
    gold = {"dog": {"köter"}, "cat": {"katze"}, "fish": {"fisch"}}
    p = precision_at_k(lex, gold)
    assert p["covered"] == 2 and p["p@1"] == 0.5 and p["p@5"] == 1.0 and p["coverage"] == pytest.approx(2 / 3, abs=1e-3)


@pytest.mark.parametrize("method", ["nn", "csls"])
def test_clwe_recovers_a_known_orthogonal_mapping(tmp_path, method):
    rng = np.random.default_rng(0)
    n, d = 300, 32
    src = rng.normal(size=(n, d)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    tgt = src @ q + 0.05 * rng.normal(size=(n, d))
    perm = rng.permutation(n)  # target file in another order
    (tmp_path / "src.vec").write_text(f"{n} {d}\n" + "".join(
        f"w{i} " + " ".join(f"{x:.5f}" for x in src[i]) + "\n" for i in range(n)), encoding="utf-8")
    (tmp_path / "tgt.vec").write_text(f"{n} {d}\n" + "".join(
        f"t{i} " + " ".join(f"{x:.5f}" for x in tgt[i]) + "\n" for i in perm), encoding="utf-8")
    gold = {f"w{i}": {f"t{i}"} for i in range(n)}
    # unaligned spaces: induction alone fails; Procrustes on 100 seed pairs aligns them
    raw = build_clwe_lexicon(tmp_path / "src.vec", tmp_path / "tgt.vec", "en", "de", method=method, k=3, batch_size=64)
    assert precision_at_k(raw, gold)["p@1"] < 0.1
    (tmp_path / "seed.txt").write_text("".join(f"w{i} t{i}\n" for i in range(100)), encoding="utf-8")
    lex = build_clwe_lexicon(tmp_path / "src.vec", tmp_path / "tgt.vec", "en", "de", method=method, k=3,
                             batch_size=64, seed_dict=tmp_path / "seed.txt")
    held_out = {w: g for w, g in gold.items() if int(w[1:]) >= 100}
    assert precision_at_k(lex, held_out)["p@1"] >= 0.99
    assert all(len(v) == 3 for v in lex.entries.values())


def test_clwe_bad_vector_line(tmp_path):
    (tmp_path / "a.vec").write_text("2 3\nx 1 2 3\ny 1 2\n", encoding="utf-8")
    with pytest.raises(CsirError, match=r"a.vec:3: expected a word and 3 numbers"):
        build_clwe_lexicon(tmp_path / "a.vec", tmp_path / "a.vec", "en", "de")


def test_titles_tsv_and_wikipedia_sql(tmp_path):
    tsv = tmp_path / "titles.tsv"
    tsv.write_text("Federal_Republic_of_Germany\tBundesrepublik Deutschland\nMercury (planet)\tMerkur (Planet)\n"
                   "Berlin\tBerlin\n", encoding="utf-8")
    lex = read_titles_tsv(tsv, "en", "de")
    assert lex.entries["federal republic of germany"][0][0] == "Bundesrepublik Deutschland"
    assert lex.entries["berlin"][0][0] == "Berlin"  # kept: protects the entity from word-by-word switching
    assert lex.entries["mercury"][0][0] == "Merkur"
    page = tmp_path / "enwiki-page.sql.gz"
    with gzip.open(page, "wt", encoding="utf-8") as fh:
        fh.write("-- MySQL dump\nINSERT INTO `page` VALUES (1,0,'Munich','',0,0,0.5,'x'),"
                 "(2,0,'O\\'Brien_(name)','',0,0,0.1,'y'),(3,1,'Talk_page','',0,0,0.1,'z');\n")
    links = tmp_path / "enwiki-langlinks.sql"
    links.write_text("INSERT INTO `langlinks` VALUES (1,'de','München'),(1,'fr','Munich'),(2,'de','O’Brien (Name)'),"
                     "(3,'de','Diskussion');\n", encoding="utf-8")
    rows = list(iter_sql_rows(page, "page"))
    assert rows[1][2] == "O'Brien_(name)" and rows[0][6] == "0.5"
    wiki = read_wikipedia_dumps(page, links, "en", "de")
    assert wiki.entries == {"munich": [("München", 1.0)], "o'brien": [("O’Brien", 1.0)]}


def test_cli_dict_muse_writes_a_loadable_repo_with_gold(tmp_path, fixtures):
    out = tmp_path / "LEX"
    r = csir("lexicon", "dict", "--format", "muse", "--input", str(fixtures / "lexicons" / "en-de.txt"),
             "--src", "en", "--tgt", "de", "--output", str(out), "--gold", str(fixtures / "lexicons" / "en-de.txt"))
    assert r.returncode == 0, r.stderr
    assert '"p@1": 1.0' in r.stdout
    ds = datasets.load_dataset(str(out), "muse-en-de", split="train")
    assert ds.column_names == ["source", "target", "score", "rank"]
    card = (out / "README.md").read_text()
    assert "sha256" in card and "P@1" in card
    lex = load_lexicon(str(out), "en", "de")
    assert lex.entries["data"][0][0] == "Daten"


def test_cli_freedict_and_unknown_language(tmp_path, fixtures):
    r = csir("lexicon", "dict", "--format", "freedict", "--input", str(fixtures / "lexicons" / "freedict-eng-deu.index"),
             "--src", "en", "--tgt", "de", "--output", str(tmp_path / "fd"))
    assert r.returncode == 0, r.stderr
    r = csir("lexicon", "dict", "--format", "muse", "--input", str(fixtures / "lexicons" / "en-de.txt"),
             "--src", "en", "--tgt", "xx", "--output", str(tmp_path / "bad"))
    assert r.returncode == 2 and "unknown language code 'xx'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("method", ["nn", "csls"])
def test_clwe_search_is_exact_and_independent_of_the_batch_size(method):
    """The search finds the best values a brute-force float64 ranking finds, of two duplicate target vectors the
    lower id first (faiss's flat search, which the code once used, orders such ties by its heap), and the batch
    size changes no digit."""
    import faiss

    from builders.lexicons.clwe import induce

    rng = np.random.default_rng(3)
    x = rng.normal(size=(131, 16)).astype(np.float32)
    y = rng.normal(size=(150, 16)).astype(np.float32)
    y[100:110] = y[:10]  # ties
    faiss.normalize_L2(x); faiss.normalize_L2(y)
    sw, tw = [f"s{i}" for i in range(len(x))], [f"t{i}" for i in range(len(y))]
    runs = [induce(sw, x, tw, y, method=method, k=4, csls_k=5, batch_size=b, progress=False) for b in (131, 9, 1)]
    assert runs[0] == runs[1] == runs[2]
    got = np.array([int(t[1:]) for _, t, _ in runs[0]]).reshape(len(x), 4)
    sims = x.astype(np.float64) @ y.astype(np.float64).T
    if method == "csls":
        r_t = np.sort(sims, axis=0)[-5:].mean(axis=0)
        r_s = np.sort(sims, axis=1)[:, -5:].mean(axis=1)
        sims = 2 * sims - r_t[None, :] - r_s[:, None]
    else:
        index = faiss.IndexFlatIP(16)
        index.add(y)
        theirs = index.search(x, 4)[1]
        assert (np.sort(np.where(theirs >= 100, theirs - 100, theirs), axis=1) ==
                np.sort(np.where(got >= 100, got - 100, got), axis=1)).all()  # the same vectors
    for row in got:
        for j in row:
            if 100 <= j < 110:  # a duplicate: its twin, the lower id, is in the list before it
                assert j - 100 in row and list(row).index(j - 100) < list(row).index(j)
    best = -np.sort(-sims, axis=1)[:, :4]
    assert np.abs(np.take_along_axis(sims, got, axis=1) - best).max() < 1e-5
    scores = np.array([s for _, _, s in runs[0]]).reshape(len(x), 4)
    assert np.abs(scores - best).max() < 1e-5
