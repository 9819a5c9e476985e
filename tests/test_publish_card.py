"""Card handling at publish time: validation, version pinning, the commit line round trip."""

from __future__ import annotations

import pytest
from publish_samples import CONFIG, write_cs_dataset

from csir.errors import CsirError
from csir.hub.card_check import refresh_card, split_front_matter, validate_card
from csir.hub.files import list_folder, stage_folder

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_dataset_card_pinned_and_commit_line_round_trips(tmp_path):
    folder = write_cs_dataset(tmp_path / "ds", 0, 8, extra_config=True)
    text = (folder / "README.md").read_text()
    assert 'revision=' not in text  # written without a version: the publish pins it
    paths = list_folder(folder)
    pinned = refresh_card(text, repo_id="org/data", version="v1.2.3", repo_type="dataset", paths=paths)
    assert f'load_dataset("org/data", "{CONFIG}", revision="v1.2.3")' in pinned
    assert 'load_dataset("org/data", "zero-shot", revision="v1.2.3")' in pinned
    recorded = refresh_card(text, repo_id="org/data", version="v1.2.3", repo_type="dataset", paths=paths,
                            commit=SHA)
    assert f"This version (v1.2.3) is commit `{SHA}`." in recorded
    # stripping the commit line gives back exactly the published card: re-publishing stays a no-op
    assert refresh_card(recorded, repo_id="org/data", version="v1.2.3", repo_type="dataset", paths=paths) == pinned
    # front matter is untouched and still what the Hub parses
    assert split_front_matter(recorded)[0] == split_front_matter(text)[0]
    # a later version replaces the pin and the recorded commit instead of adding lines
    later = refresh_card(recorded, repo_id="org/data", version="v2.0.0", repo_type="dataset", paths=paths,
                         commit="f" * 40)
    assert later.count("is commit") == 1 and "v1.2.3" not in later


def test_model_card_usage_section_is_pinned_or_added():
    usage = ("---\nlicense: apache-2.0\n---\n# A model\n\nText.\n\n## Usage\n\n```python\n"
             "from sentence_transformers import CrossEncoder\n\nmodel = CrossEncoder(\"my-model-id\")\n```\n\n"
             "## Training data\n\nrows\n")
    out = refresh_card(usage, repo_id="org/m", version="v1.0.0", repo_type="model", paths=["config.json"],
                       commit=SHA)
    assert 'CrossEncoder("org/m", revision="v1.0.0")' in out and out.count("## Usage") == 1
    assert out.index("is commit") < out.index("## Training data")

    bare = "---\nlicense: mit\n---\n# Tiny\n\nRandom weights.\n"
    added = refresh_card(bare, repo_id="org/st", version="v0.1.0", repo_type="model",
                         paths=["modules.json", "config.json"])
    assert 'SentenceTransformer("org/st", revision="v0.1.0")' in added
    plain = refresh_card(bare, repo_id="org/bert", version="v0.1.0", repo_type="model", paths=["config.json"],
                         read=lambda p: b'{"model_type": "bert"}')
    assert 'AutoModel.from_pretrained("org/bert", revision="v0.1.0")' in plain
    cross = refresh_card(bare, repo_id="org/ce", version="v0.1.0", repo_type="model", paths=["config.json"],
                         read=lambda p: b'{"sentence_transformers": {"version": "6"}}')
    assert 'CrossEncoder("org/ce", revision="v0.1.0")' in cross
    assert plain.index("# Tiny") < plain.index("## How to load")


def test_validation_errors_name_file_line_and_field(tmp_path):
    with pytest.raises(CsirError, match=r"README.md:3: invalid YAML"):
        validate_card("---\nlicense: mit\n  bad: [\n---\n", "dataset", [])
    with pytest.raises(CsirError, match="must be a mapping"):
        validate_card("---\n- a\n---\n", "model", [])
    card = "---\nconfigs:\n- config_name: a\n  data_files:\n  - split: train\n    path: data/a/train-*.parquet\n---\n"
    assert validate_card(card, "dataset", ["data/a/train-00000-of-00001.parquet"])["configs"][0]["config_name"] == "a"
    with pytest.raises(CsirError, match=r"configs\[a\].data_files.*data/a/train-\*.parquet"):
        validate_card(card, "dataset", ["data/b/train-00000-of-00001.parquet"])


def test_staging_hashes_match_git_and_skip_vcs_files(tmp_path):
    import subprocess

    folder = tmp_path / "f"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("x")
    (folder / "sub").mkdir()
    (folder / "sub" / "a.bin").write_bytes(b"\x00\x01" * 1000)
    (folder / "README.md").write_text("---\n{}\n---\n")
    staged = stage_folder(folder, overrides={"README.md": b"override"})
    assert sorted(staged.files) == ["README.md", "sub/a.bin"]
    expected = subprocess.run(["git", "hash-object", str(folder / "sub" / "a.bin")], capture_output=True,
                              text=True, check=True).stdout.strip()
    assert staged.files["sub/a.bin"].git_sha1 == expected
    assert staged.files["README.md"].read() == b"override"
    with pytest.raises(CsirError, match="empty"):
        (tmp_path / "empty").mkdir()
        stage_folder(tmp_path / "empty")
