"""Publishing repo folders as versioned Hub repos: the Hugging Face Hub or a local git store (`csir hub serve`)."""

from csir.hub.publish import PublishResult, publish_folder
from csir.hub.remote import RetryPolicy

__all__ = ["PublishResult", "RetryPolicy", "publish_folder"]
