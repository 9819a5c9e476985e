"""datasets 5.2 serves a local folder the Arrow cache of another folder with the same name, and ignores a
rebuild in place (#14: training read a rebuilt BL-CS set back as the old build). Training loads local folders
through `csir.hub.load.load_repo_dataset` (content-keyed cache), so it reads what is on disk."""

import time

import datasets

from training.config import DataConfig
from training.data import load_source

CARD = "---\nconfigs:\n- config_name: cfg\n  data_files:\n  - split: train\n    path: data/cfg/train-*\n---\n"


def _write(folder, n):
    (folder / "data" / "cfg").mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict({"query": [f"q{i}" for i in range(n)], "passage": ["p"] * n, "label": [1.0] * n}) \
        .to_parquet(str(folder / "data" / "cfg" / "train-00000-of-00001.parquet"))
    (folder / "README.md").write_text(CARD, encoding="utf-8")


def test_same_named_folders_and_rebuilds_are_read_from_disk(tmp_path):
    a, b = tmp_path / "a" / "same-name", tmp_path / "b" / "same-name"
    _write(a, 3)
    _write(b, 5)
    assert load_source(DataConfig(path=str(a), name="cfg"))[0].num_rows == 3
    assert load_source(DataConfig(path=str(b), name="cfg"))[0].num_rows == 5
    time.sleep(0.01)
    _write(b, 7)  # rebuilt in place
    assert load_source(DataConfig(path=str(b), name="cfg"))[0].num_rows == 7
