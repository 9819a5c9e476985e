"""Publishing repo folders as versioned Hub repos: the Hugging Face Hub or a local git store (`csir hub serve`)."""

from builders.publish.api import PublishResult, publish_folder
from builders.publish.hub import RetryPolicy

__all__ = ["PublishResult", "RetryPolicy", "publish_folder"]
