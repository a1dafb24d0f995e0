# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Backend 2: Hugging Face image-text-to-text VLMs (``AutoModelForImageTextToText``).

The prefix is built as the model's own forward builds it: token ids with the family's image
placeholder layout, their embeddings, and the image features (``get_image_features``, the
vision tower plus projector) written into the placeholder positions. The language model body
and ``lm_head`` then run exactly as in the other backends, so sampling, teacher forcing, LoRA
and the value head are shared (``token_policy.py``). Images go through ``preprocessing.py`` and
are normalised with the checkpoint's ``preprocessor_config.json`` mean/std (or the vision
tower's usual values), not through HF processors.

Action tokens: the last 256 ORDINARY text tokens, i.e. the ids just below the first added
special token that lies above the base vocabulary (image and pad tokens are added specials).
Where a family's base vocabulary ends in task tokens (PaliGemma's ``<loc>``/``<seg>`` block may),
those become the action tokens; ``load_policy(..., action_vocab_size=N)`` chooses another end,
and ``policy.action_tokenizer.first_id`` shows the choice.
Per family (BOS included by the tokenizer; N image tokens per camera):

- ``llava`` (Llama / Vicuna text, CLIP or SigLIP vision): ``<s> <image>*N prompt``. For
  Llama-2's tokenizer the action ids are 31744..31999, OpenVLA's ids.
- ``paligemma`` (Gemma text, SigLIP): ``<image>*N <bos> prompt <newline>``. HF's PaliGemma attends
  bidirectionally within the prefix; here the prefix is causal like the other backends, which
  fine-tuning absorbs but which makes zero-shot outputs differ from HF's ``generate``.
- ``idefics3`` / ``smolvlm`` (SmolVLM, SigLIP + pixel shuffle): ``<s> <fake_token_around_image>
  <global-img> <image>*N <fake_token_around_image> prompt``, one global image per camera at
  ``vision_config.image_size`` (no image splitting).

Remote code runs only with ``trust_remote_code=True``; a folder whose config needs it raises an
error that says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from tgrpo_ros.policy.backbone import VLABackbone
from tgrpo_ros.policy.lora import base_state_dict
from tgrpo_ros.policy.normalization import folder_statistics
from tgrpo_ros.policy.preprocessing import ImagePreprocessing
from tgrpo_ros.policy.token_policy import PolicySpec, TokenVLAPolicy
from tgrpo_ros.policy.vision import CLIP_MEAN, CLIP_STD, HALF

FAMILIES = ('llava', 'paligemma', 'idefics3', 'smolvlm')
TGRPO_HF_FILE = 'tgrpo_hf_vlm.json'


def text_action_vocab_size(tokenizer) -> int:
    """Return the end of the ordinary text vocabulary (action ids are the 256 ids below it)."""
    base = int(tokenizer.vocab_size)
    specials = [i for i, t in tokenizer.added_tokens_decoder.items() if t.special and i >= base]
    return min(specials) if specials else len(tokenizer)


class HFVLMBackbone(VLABackbone):
    """Wraps an ``AutoModelForImageTextToText`` model (submodule ``model``)."""

    def __init__(self, model, tokenizer, mean=None, std=None) -> None:
        super().__init__()
        self.model = model
        cfg = model.config
        self.family = cfg.model_type
        if self.family not in FAMILIES:
            raise ValueError(f'model type {self.family!r} has no prompt layout here; '
                             f'supported families: {FAMILIES}')
        image_token = getattr(cfg, 'image_token_id', None)
        if image_token is None:
            image_token = getattr(cfg, 'image_token_index', None)
        if image_token is None:
            raise ValueError(f'{self.family} config has no image_token_id')
        self.image_token_id = int(image_token)
        vision = cfg.vision_config
        self.image_size = int(vision.image_size)
        if mean is None:
            siglip = 'siglip' in getattr(vision, 'model_type', '') or self.family != 'llava'
            mean, std = (HALF, HALF) if siglip else (CLIP_MEAN, CLIP_STD)
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.wrap_ids = []
        if self.family in ('idefics3', 'smolvlm'):
            self.wrap_ids = [tokenizer.convert_tokens_to_ids(t)
                             for t in ('<fake_token_around_image>', '<global-img>')]

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.get_text_config().hidden_size)

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [0, 1] -> (N, T, D) projected features in the LM width."""
        dtype = self.model.get_input_embeddings().weight.dtype
        x = ((pixels.float() - self.mean.float()) / self.std.float()).to(dtype)
        inner = self.model.model
        if self.family in ('idefics3', 'smolvlm'):
            out = inner.get_image_features(pixel_values=x[:, None])
        else:
            out = inner.get_image_features(pixel_values=x)
        feats = getattr(out, 'pooler_output', out)
        if isinstance(feats, (list, tuple)):
            feats = torch.stack(list(feats))
        return feats.reshape(x.shape[0], -1, feats.shape[-1])

    def layout(self, prompt_ids: list[int], n_tokens: int, n_cameras: int) -> list[int]:
        """Token ids of one row, image placeholders included (see module docstring)."""
        img = [self.image_token_id] * n_tokens
        if self.family == 'llava':
            return prompt_ids[:1] + img * n_cameras + prompt_ids[1:]
        if self.family == 'paligemma':
            return img * n_cameras + prompt_ids
        fake, glob = self.wrap_ids
        return prompt_ids[:1] + ([fake, glob] + img + [fake]) * n_cameras + prompt_ids[1:]

    def prefix_embeddings(self, pixels, prompt_ids):
        b, n_cam = pixels.shape[:2]
        feats = self._image_features(pixels.flatten(0, 1))          # (B * n_cam, T, D)
        feats = feats.reshape(b, n_cam * feats.shape[1], feats.shape[2])
        rows = []
        for i, ids in enumerate(prompt_ids):
            full = torch.tensor(self.layout(list(ids), feats.shape[1] // n_cam, n_cam),
                                device=feats.device)
            emb = self.embed_tokens(full[None])[0]
            emb = emb.masked_scatter((full == self.image_token_id)[:, None].expand_as(emb),
                                     feats[i].to(emb.dtype))
            rows.append(emb)
        return rows

    def embed_tokens(self, ids):
        return self.model.get_input_embeddings()(ids)

    def decoder(self, inputs_embeds, attention_mask, position_ids, past_key_values=None,
                use_cache=False):
        inner = self.model.model
        # LLaVA / PaliGemma call the text body language_model, Idefics3 / SmolVLM text_model.
        lm = getattr(inner, 'language_model', None) or inner.text_model
        out = lm(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                 position_ids=position_ids, past_key_values=past_key_values, use_cache=use_cache)
        return out.last_hidden_state, (out.past_key_values if use_cache else None)

    def logits(self, hidden):
        return self.model.lm_head(hidden)


def _check_remote_code(path: Path, trust_remote_code: bool) -> None:
    with open(path / 'config.json') as f:
        config = json.load(f)
    needs_code = config.get('model_type') not in CONFIG_MAPPING and 'auto_map' in config
    if needs_code and not trust_remote_code:
        raise ValueError(
            f'{path} ships its own model code (config.json "auto_map", model_type '
            f'{config.get("model_type")!r} unknown to transformers). It runs only if you trust '
            'it: pass trust_remote_code=True (load_policy(..., trust_remote_code=True)).')


def _mean_std(path: Path):
    pre = path / 'preprocessor_config.json'
    if pre.is_file():
        with open(pre) as f:
            d = json.load(f)
        if 'image_mean' in d and 'image_std' in d:
            return tuple(d['image_mean']), tuple(d['image_std'])
    return None, None


def load_hf_vlm_policy(path: Path, device, dtype, spec_overrides: dict, trust_remote_code: bool,
                       statistics: dict | None = None):
    """Load backend 2 from a folder; the spec defaults suit a LIBERO-style single camera."""
    path = Path(path)
    _check_remote_code(path, trust_remote_code)
    model = AutoModelForImageTextToText.from_pretrained(
        str(path), dtype=dtype, trust_remote_code=trust_remote_code, use_safetensors=True)
    model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    mean, std = _mean_std(path)
    backbone = HFVLMBackbone(model, tokenizer, mean, std).to(device)
    suffix = (tokenizer('\n', add_special_tokens=False)['input_ids']
              if backbone.family == 'paligemma' else [])
    spec = PolicySpec(cameras=['agentview'],
                      preprocessing=ImagePreprocessing(image_size=backbone.image_size),
                      prompt_suffix_ids=suffix,
                      action_vocab_size=text_action_vocab_size(tokenizer),
                      gripper='openvla', backend='hf_vlm')
    spec = spec.with_overrides(spec_overrides)
    return TokenVLAPolicy(backbone, tokenizer, spec,
                          statistics if statistics is not None else folder_statistics(path))


def save_hf_vlm(backbone: HFVLMBackbone, folder: Path) -> None:
    """Write the base model (adapter excluded) as config.json + model.safetensors."""
    folder = Path(folder)
    backbone.model.config.save_pretrained(str(folder))
    state = {k: v.clone() for k, v in base_state_dict(backbone.model).items()}
    save_file(state, str(folder / 'model.safetensors'), metadata={'format': 'pt'})
    with open(folder / 'preprocessor_config.json', 'w') as f:
        json.dump({'image_mean': backbone.mean.flatten().tolist(),
                   'image_std': backbone.std.flatten().tolist()}, f)
