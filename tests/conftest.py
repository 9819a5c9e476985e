import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _isolated_hf_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own HF datasets cache: no cross-test or user-cache leakage."""
    import datasets

    cache = tmp_path_factory.mktemp("hf-cache")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache / "datasets"))  # for subprocesses
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "datasets")  # this process (read at import)
    monkeypatch.setenv("HF_HOME", str(cache / "home"))
