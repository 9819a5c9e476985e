"""The country-flags image-text set: npm fixture (real flag renders) + CLDR names from Babel, held-out split,
translate-train caption configs, letterboxed images, CLI, and bad input."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from builders.evalsets.flags import FlagSetConfig, build_flags_evalset
from builders.sources.flags import is_heldout_flag, load_flags
from csir.cli import main as csir
from csir.errors import CsirError

NPM = Path(__file__).parent / "fixtures" / "flags" / "npm"


def test_heldout_split_and_cldr_names():
    entries = {e.code: e for e in load_flags(NPM, ["de", "ja", "ru"])}
    assert sorted(entries) == ["BE", "DE", "FR", "IT", "JP", "NL"]  # GB-ENG: no CLDR territory
    assert entries["DE"].names == {"en": "Germany", "de": "Deutschland", "ja": "ドイツ", "ru": "Германия"}
    assert [c for c in entries if is_heldout_flag(c)] == ["BE", "IT", "NL"]


def test_flags_set_layout(tmp_path):
    out = build_flags_evalset(NPM, tmp_path / "flags", FlagSetConfig(langs=["en", "de", "ja"],
                                                                     caption_langs=["de", "fr"]))
    corpus = datasets.load_dataset(str(out), "deu-corpus", split="test")
    queries = datasets.load_dataset(str(out), "deu-queries", split="test")
    assert sorted(corpus["id"]) == ["BE", "IT", "NL"]
    img = corpus[0]["image"]
    assert img.size[0] == img.size[1] == 250 and img.getpixel((0, 0)) == (255, 255, 255)  # letterboxed on white
    assert dict(zip(queries["id"], queries["text"]))["deu-IT"] == "Italien"
    i2t = datasets.load_dataset(str(out), "i2t-jpn-corpus", split="test")
    assert dict(zip(i2t["id"], i2t["text"]))["jpn-NL"] == "オランダ"
    train = datasets.load_dataset(str(out), "captions", split="train")
    assert sorted(train["id"]) == ["DE", "FR", "JP"] and set(train["language"]) == {"en"}
    fr = datasets.load_dataset(str(out), "captions-fra", split="train")
    assert dict(zip(fr["id"], fr["text"]))["DE"] == "Allemagne"
    assert not set(train["id"]) & set(corpus["id"])  # held-out flags never in training


def test_cli_and_bad_input(tmp_path, capsys):
    assert csir(["evalset", "flags", "--npm-dir", str(NPM), "--output", str(tmp_path / "ok"), "--langs", "en,it"]) == 0
    capsys.readouterr()
    assert csir(["evalset", "flags", "--npm-dir", str(NPM), "--output", str(tmp_path / "x"), "--langs", "en,xx-zz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CLDR (Babel) has no locale 'xx-zz'" in err[0]
    assert not (tmp_path / "x").exists()
    bad = tmp_path / "npm"
    (bad / "svg-country-flags" / "package" / "png250px").mkdir(parents=True)
    (bad / "svg-country-flags" / "package" / "countries.json").write_text('{"DE": "Germany",}', encoding="utf-8")
    with pytest.raises(CsirError, match="countries.json:1: invalid JSON"):
        load_flags(bad, ["en"])
    (bad / "svg-country-flags" / "package" / "countries.json").write_text('{"BE": "Belgium"}', encoding="utf-8")
    (bad / "svg-country-flags" / "package" / "png250px" / "be.png").write_bytes(b"not a png")
    with pytest.raises(CsirError, match="be.png: image cannot be decoded"):
        build_flags_evalset(bad, tmp_path / "y", FlagSetConfig(langs=["en"]))
    assert not (tmp_path / "y").exists()
