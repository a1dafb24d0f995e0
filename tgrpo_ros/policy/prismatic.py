# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Backend 1 and 3: the Prismatic / OpenVLA architecture, built from an OpenVLA ``config.json``.

Architecture (OpenVLA's ``modeling_prismatic.py``): one or two timm ViT featurizers (DINOv2 for
``featurizer``, SigLIP for ``fused_featurizer``), their second-to-last-layer patch features
concatenated along channels, a GELU MLP ``projector`` into the LLM width, and a causal LM
(``language_model``, Llama-2 for OpenVLA). The projected patches are inserted right after BOS;
``input_ids`` hold no image tokens. Parameter names equal OpenVLA's (see ``openvla_layout.py``),
so its safetensors load directly; no remote code, timm or ``generate()`` is involved.

The tiny built-in model (``tiny.py``) is this same class with small dimensions given by the
extension field ``vision_specs`` (a list of ``ViTSpec`` dicts) instead of timm ids.
With several cameras, each image goes through the vision backbone and the projected patches of
the cameras follow each other in the configured camera order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from safetensors import safe_open, SafetensorError
from safetensors.torch import save_file
import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM

from tgrpo_ros.policy.backbone import VLABackbone
from tgrpo_ros.policy.openvla_layout import SKIPPED_CHECKPOINT_PARTS
from tgrpo_ros.policy.tensor_file import TensorFileError
from tgrpo_ros.policy.vision import spec_for_timm_id, TimmViT, ViTSpec

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
WEIGHTS_INDEX_FILE = 'model.safetensors.index.json'


def vision_specs(config: dict) -> list[ViTSpec]:
    """Return the featurizer specs: ``vision_specs`` if given, else from the timm ids."""
    if config.get('vision_specs'):
        specs = [ViTSpec.from_dict(s) for s in config['vision_specs']]
    else:
        if 'timm_model_ids' not in config or 'image_sizes' not in config:
            raise ValueError('config lacks "timm_model_ids"/"image_sizes" (OpenVLA fields) and '
                             '"vision_specs"')
        specs = [spec_for_timm_id(t, s)
                 for t, s in zip(config['timm_model_ids'], config['image_sizes'])]
    fused = bool(config.get('use_fused_vision_backbone', len(specs) == 2))
    if len(specs) != (2 if fused else 1):
        raise ValueError(f'use_fused_vision_backbone={fused} needs {2 if fused else 1} vision '
                         f'backbones, config names {len(specs)}')
    if len({s.image_size for s in specs}) != 1 or len({s.num_patches for s in specs}) != 1:
        raise ValueError('fused featurizers must share image size and patch grid')
    return specs


class PrismaticVisionBackbone(nn.Module):
    def __init__(self, specs: Sequence[ViTSpec]) -> None:
        super().__init__()
        self.featurizer = TimmViT(specs[0])
        self.fused_featurizer = TimmViT(specs[1]) if len(specs) > 1 else None
        self.embed_dim = sum(s.embed_dim for s in specs)
        for name, spec in zip(('mean0', 'mean1'), specs):
            self.register_buffer(name, torch.tensor(spec.mean, dtype=torch.float32).view(
                1, 3, 1, 1), persistent=False)
        for name, spec in zip(('std0', 'std1'), specs):
            self.register_buffer(name, torch.tensor(spec.std, dtype=torch.float32).view(
                1, 3, 1, 1), persistent=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [0, 1] -> (N, P, embed_dim); each featurizer has its own mean/std."""
        # Normalise in float32, then cast to the weights' dtype (bf16/fp16 on GPUs).
        pixels = pixels.float()
        x = (pixels - self.mean0) / self.std0
        patches = self.featurizer(x.to(self.featurizer.pos_embed.dtype))
        if self.fused_featurizer is None:
            return patches
        y = (pixels - self.mean1) / self.std1
        fused = self.fused_featurizer(y.to(self.fused_featurizer.pos_embed.dtype))
        return torch.cat([patches, fused], dim=2)


class PrismaticProjector(nn.Module):
    """OpenVLA's projector: 2-layer GELU MLP, or 3 layers (4x wide first) when fused."""

    def __init__(self, fused: bool, vision_dim: int, llm_dim: int) -> None:
        super().__init__()
        self.fused = fused
        if fused:
            self.fc1 = nn.Linear(vision_dim, 4 * vision_dim)
            self.fc2 = nn.Linear(4 * vision_dim, llm_dim)
            self.fc3 = nn.Linear(llm_dim, llm_dim)
        else:
            self.fc1 = nn.Linear(vision_dim, llm_dim)
            self.fc2 = nn.Linear(llm_dim, llm_dim)
        self.act_fn1 = nn.GELU()
        self.act_fn2 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc2(self.act_fn1(self.fc1(x)))
        return self.fc3(self.act_fn2(x)) if self.fused else x


class PrismaticVLA(VLABackbone):
    """OpenVLA-style VLA: ``vision_backbone``, ``projector``, ``language_model``."""

    family = 'prismatic'

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.config = dict(config)
        specs = vision_specs(self.config)
        self.image_size = specs[0].image_size
        text = dict(self.config.get('text_config') or {})
        model_type = text.pop('model_type', 'llama')
        text_config = AutoConfig.for_model(model_type, **text)
        text_config._attn_implementation = self.config.get('attn_implementation', 'sdpa')
        self.vision_backbone = PrismaticVisionBackbone(specs)
        self.projector = PrismaticProjector(len(specs) == 2, self.vision_backbone.embed_dim,
                                            text_config.hidden_size)
        # text_config is a built-in transformers config (for_model above), so no remote code is
        # ever needed; saying so keeps transformers from asking on the terminal.
        self.language_model = AutoModelForCausalLM.from_config(text_config,
                                                               trust_remote_code=False)
        self.text_config = text_config

    @property
    def hidden_size(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def action_vocab_size(self) -> int:
        """Return OpenVLA's de-tokenisation vocabulary (logit count - ``pad_to_multiple_of``)."""
        return int(self.text_config.vocab_size) - int(self.config.get('pad_to_multiple_of', 0))

    def prefix_embeddings(self, pixels, prompt_ids):
        b, n_cam = pixels.shape[:2]
        feats = self.vision_backbone(pixels.flatten(0, 1).to(self.projector.fc1.weight.device))
        patches = self.projector(feats)                                # (B * n_cam, P, D)
        patches = patches.reshape(b, n_cam * patches.shape[1], patches.shape[2])
        rows = []
        for i, ids in enumerate(prompt_ids):
            emb = self.embed_tokens(torch.as_tensor(ids, device=patches.device)[None])[0]
            # Patches go right after BOS (OpenVLA's multimodal layout).
            rows.append(torch.cat([emb[:1], patches[i], emb[1:]], dim=0))
        return rows

    def embed_tokens(self, ids):
        return self.language_model.get_input_embeddings()(ids)

    def decoder(self, inputs_embeds, attention_mask, position_ids, past_key_values=None,
                use_cache=False):
        out = self.language_model.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                        position_ids=position_ids,
                                        past_key_values=past_key_values, use_cache=use_cache)
        return out.last_hidden_state, (out.past_key_values if use_cache else None)

    def logits(self, hidden):
        return self.language_model.lm_head(hidden)

    # ---- checkpoints -------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` with OpenVLA's names."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / CONFIG_FILE, 'w') as f:
            json.dump(self.config, f, indent=2)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE), metadata={'format': 'pt'})

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = 'cpu',
                        dtype: torch.dtype = torch.float32) -> PrismaticVLA:
        """Build from ``config.json`` and load (possibly sharded) safetensors; no pickle."""
        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file():
            raise FileNotFoundError(f'no {CONFIG_FILE} in {folder}')
        with open(folder / CONFIG_FILE) as f:
            config = json.load(f)
        files = weight_files(folder)
        model = build_module(cls, config, device, dtype)
        load_weights(model, files)
        return model


def build_module(cls, config: dict, device: str | torch.device, dtype: torch.dtype):
    """Construct ``cls(config)`` directly on ``device`` in ``dtype`` (no float32 detour).

    Only parameters take ``dtype``: buffers that the modules create in float32 on purpose
    (RoPE ``inv_freq``, pixel mean/std) stay float32, as Hugging Face's own loading keeps them;
    a bf16 ``inv_freq`` would shift rotary angles by up to ~0.4 rad at position 300.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = cls(config)
    finally:
        torch.set_default_dtype(previous)
    model.to(device)
    for p in model.parameters():
        if p.dtype != dtype:
            p.data = p.data.to(dtype)
    return model


def weight_files(folder: Path) -> list[Path]:
    if (folder / WEIGHTS_INDEX_FILE).is_file():
        with open(folder / WEIGHTS_INDEX_FILE) as f:
            names = sorted(set(json.load(f)['weight_map'].values()))
        return [folder / n for n in names]
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    if list(folder.glob('*.bin')) or list(folder.glob('*.pt')):
        raise ValueError(f'{folder} has only pickle weights (.bin/.pt); convert them to '
                         'safetensors (pickle is never loaded)')
    raise FileNotFoundError(f'no {WEIGHTS_FILE} or {WEIGHTS_INDEX_FILE} in {folder}')


def load_weights(model: nn.Module, files: Sequence[Path]) -> list[str]:
    """Copy safetensors tensors into ``model`` by name; returns the skipped checkpoint names.

    Names the model lacks are an error unless they are known-unused parts of OpenVLA
    checkpoints (SKIPPED_CHECKPOINT_PARTS); parameters missing from the files are an error.
    """
    state = model.state_dict()
    seen, skipped, unexpected = set(), [], []
    with torch.no_grad():
        for path in files:
            if not path.is_file():
                raise FileNotFoundError(f'weights file {path} does not exist')
            try:
                handle = safe_open(str(path), framework='pt', device='cpu')
            except (SafetensorError, OSError) as exc:
                raise TensorFileError(f'{path}: not a readable safetensors file ({exc})') \
                    from None
            with handle as f:
                for name in f.keys():
                    if name not in state:
                        if any(p in name for p in SKIPPED_CHECKPOINT_PARTS):
                            skipped.append(name)
                        else:
                            unexpected.append(name)
                        continue
                    t = f.get_tensor(name)
                    if tuple(t.shape) != tuple(state[name].shape):
                        raise ValueError(f'{path.name}: {name} has shape {tuple(t.shape)}, the '
                                         f'model expects {tuple(state[name].shape)}')
                    if t.is_floating_point() != state[name].is_floating_point():
                        raise ValueError(f'{path.name}: {name} has dtype {t.dtype}, the model '
                                         f'expects {state[name].dtype}')
                    state[name].copy_(t.to(state[name].dtype))
                    seen.add(name)
    if unexpected:
        raise ValueError(f'checkpoint has {len(unexpected)} unknown tensors, e.g. '
                         f'{unexpected[:5]}')
    missing = sorted(set(state) - seen)
    if missing:
        raise ValueError(f'checkpoint lacks {len(missing)} tensors, e.g. {missing[:5]}')
    return skipped
