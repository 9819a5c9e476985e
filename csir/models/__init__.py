"""The one model loader of the project, for training and evaluation alike.

- `load_model(ModelSpec)`: cross-encoders, bi-encoders (with their saved prompts) and image-text dual encoders,
  resolved by `csir.hub.resolve`, safetensors only unless `allow_pickle`;
- `text.load_trainable` / `text.check_base_model`: the model a training run starts from;
- `dual`: dual encoders (`DualEncoderModel`) and the towers a training run starts from (safetensors-checked);
- `tiny`: tiny random BERTs built in code for smoke runs and tests;
- `files`: what a model folder is (`detect_kind`, `is_dual_encoder`), `check_weights`, `read_json`.
Heavy libraries are imported only when a model is loaded.
"""

from .files import check_weights, detect_kind, is_dual_encoder, read_json
from .load import load_model, resolve_model_path
from .spec import E5_PROMPTS, LoadedModel, ModelSpec, saved_prompts

__all__ = ["E5_PROMPTS", "LoadedModel", "ModelSpec", "check_weights", "detect_kind", "is_dual_encoder", "load_model",
           "read_json", "resolve_model_path", "saved_prompts"]
