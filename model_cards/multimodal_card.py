"""Model card for image-text dual encoders trained by `training.multimodal` (Hub-valid YAML + provenance)."""

from __future__ import annotations

import json
from typing import Mapping

from huggingface_hub import ModelCard, ModelCardData

from model_cards.model_card import eval_results_from_dicts


def render_image_text_card(info: Mapping) -> str:
    cfg = info["config"]
    cs = cfg.get("codeswitch") or {}
    langs = sorted({"en", *cs.get("query_langs", []), *(cs.get("lexicons") or {}).keys()})
    data = ModelCardData(language=langs, license="apache-2.0", library_name="transformers",
                         pipeline_tag="zero-shot-image-classification", model_name=cfg.get("model_name"),
                         tags=sorted({"image-text-retrieval", "dual-encoder", "contrastive", "code-switching",
                                      "vision-text-dual-encoder", f"mode-{cfg['mode']}"}),
                         eval_results=eval_results_from_dicts(info.get("eval_results") or []) or None)
    data.base_model_name = cfg["text_model"]
    data.training_datasets = [{"path": cfg["data"], "name": cfg.get("data_config"), "split": cfg["split"]}]
    data.training_seed = cfg["seed"]
    if cs:
        data.code_switching = {k: cs[k] for k in ("variant", "p", "query_langs", "lexicons") if k in cs}
    model_ref = f"{cfg['push_to_hub']}@{cfg['version']}" if cfg.get("push_to_hub") else "THIS_FOLDER"
    mode = ("LiT: the text encoder is frozen (its pooler and both projections train)" if cfg["mode"] == "lit"
            else "full fine-tuning of both towers")
    body = f"""
# {cfg.get('model_name') or 'Image-text dual encoder'}

A contrastive image-text dual encoder (symmetric InfoNCE, CLIP's loss) trained by `codeswitch-ir`
(`accelerate launch -m training --config ...`, objective `image-text`).

- Text tower: `{cfg['text_model']}` ({mode}).
- Image tower: a ConvNeXt CNN (widths {cfg['cnn_widths']}, one block per stage) trained from scratch on
  {cfg['image_size']} px images.
- Training data: `{cfg['data']}` (config `{cfg.get('data_config')}`, split `{cfg['split']}`, {info.get('train_rows')} captions).
- Captions: {('code-switched on the fly per epoch: ' + json.dumps(cs, ensure_ascii=False)) if cs else 'English only'}.
- {cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']} (text encoder {cfg['text_lr']}), seed {cfg['seed']};
  {info.get('train_seconds')} s.

Load it with `transformers.AutoModel` (`VisionTextDualEncoderModel`), `AutoTokenizer` and `AutoImageProcessor`;
images are RGB with transparency composited on white. Evaluate with
`csir evaluate --model {model_ref} --dataset EMOJI_SET --subsets eng,deu`.

## Training log

| epoch | loss |
|---|---|
""" + "".join(f"| {h['epoch']} | {h['loss']} |\n" for h in info.get("log_history", [])) + f"""
## Configuration

```json
{json.dumps(cfg, indent=1, ensure_ascii=False)}
```
"""
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body).content + "\n"
