# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Vision transformers with timm's parameter names, so OpenVLA checkpoints load without timm.

OpenVLA builds its featurizers with timm 0.9 (``timm.create_model(id, num_classes=0, ...)``) and
uses the patch tokens of the SECOND-TO-LAST block (``get_intermediate_layers`` with
``n={depth - 2}``, no final norm, prefix tokens dropped). timm's LayerScale ``gamma`` is renamed
``scale_factor`` in OpenVLA's checkpoints. Parameter names reproduced here (per block ``i``):
``patch_embed.proj.{weight,bias}``, ``pos_embed``, ``cls_token``, ``reg_token``, ``norm_pre.*``,
``blocks.i.norm1.*``, ``blocks.i.attn.qkv.*``, ``blocks.i.attn.proj.*``,
``blocks.i.ls1.scale_factor``, ``blocks.i.norm2.*``, ``blocks.i.mlp.fc1.*``,
``blocks.i.mlp.fc2.*``, ``blocks.i.ls2.scale_factor``, ``norm.*``. SigLIP's
attention-pool head (``attn_pool.*``) is never used for patch features and is not built (its
weights are skipped when loading).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ViTSpec:
    """Architecture of one featurizer (what a timm model id implies)."""

    embed_dim: int
    depth: int
    num_heads: int
    mlp_hidden: int
    patch_size: int = 14
    image_size: int = 224
    class_token: bool = True
    reg_tokens: int = 0
    no_embed_class: bool = False
    layer_scale: bool = False
    pre_norm: bool = False
    act: str = 'gelu'
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ViTSpec:
        d = dict(d)
        for k in ('mean', 'std'):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


# The timm model ids OpenVLA/Prismatic configs name (configuration_prismatic.py), with the
# hyper-parameters timm 0.9 gives them (timm/models/vision_transformer.py model definitions).
TIMM_VIT_SPECS: dict[str, ViTSpec] = {
    'vit_large_patch14_reg4_dinov2.lvd142m': ViTSpec(
        1024, 24, 16, 4096, class_token=True, reg_tokens=4, no_embed_class=True,
        layer_scale=True),
    'vit_so400m_patch14_siglip_224': ViTSpec(
        1152, 27, 16, 4304, class_token=False, mean=HALF, std=HALF),
    'vit_so400m_patch14_siglip_384': ViTSpec(
        1152, 27, 16, 4304, image_size=384, class_token=False, mean=HALF, std=HALF),
    'vit_large_patch14_clip_224.openai': ViTSpec(
        1024, 24, 16, 4096, pre_norm=True, act='quick_gelu', mean=CLIP_MEAN, std=CLIP_STD),
    'vit_large_patch14_clip_336.openai': ViTSpec(
        1024, 24, 16, 4096, image_size=336, pre_norm=True, act='quick_gelu', mean=CLIP_MEAN,
        std=CLIP_STD),
}


def spec_for_timm_id(timm_id: str, image_size: int) -> ViTSpec:
    if timm_id not in TIMM_VIT_SPECS:
        raise ValueError(f'unknown timm vision backbone {timm_id!r}; known: '
                         f'{sorted(TIMM_VIT_SPECS)} (or give "vision_specs" in config.json)')
    return replace(TIMM_VIT_SPECS[timm_id], image_size=int(image_size))


class _Act(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        if kind not in ('gelu', 'gelu_tanh', 'quick_gelu'):
            raise ValueError(f'unknown activation {kind!r}')
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == 'quick_gelu':
            return x * torch.sigmoid(1.702 * x)
        return F.gelu(x, approximate='tanh' if self.kind == 'gelu_tanh' else 'none')


class PatchEmbed(nn.Module):
    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, spec.embed_dim, spec.patch_size, spec.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, D)."""
        return self.proj(x).flatten(2).transpose(1, 2)


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.scale_factor = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale_factor


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = _Act(act)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        d = spec.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = Attention(d, spec.num_heads)
        self.ls1 = LayerScale(d) if spec.layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = Mlp(d, spec.mlp_hidden, spec.act)
        self.ls2 = LayerScale(d) if spec.layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class TimmViT(nn.Module):
    """A timm-compatible ViT returning the second-to-last block's patch tokens."""

    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        if spec.image_size % spec.patch_size:
            raise ValueError(f'image size {spec.image_size} not a multiple of the patch size '
                             f'{spec.patch_size}')
        if spec.embed_dim % spec.num_heads:
            raise ValueError('embed_dim must be divisible by num_heads')
        if spec.depth < 2:
            raise ValueError('depth must be at least 2 (features come from block depth - 2)')
        self.spec = spec
        d = spec.embed_dim
        self.patch_embed = PatchEmbed(spec)
        self.num_prefix = int(spec.class_token) + spec.reg_tokens
        if spec.class_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if spec.reg_tokens:
            self.reg_token = nn.Parameter(torch.zeros(1, spec.reg_tokens, d))
        n_pos = spec.num_patches + (0 if spec.no_embed_class else self.num_prefix)
        self.pos_embed = nn.Parameter(torch.randn(1, n_pos, d) * 0.02)
        self.norm_pre = nn.LayerNorm(d, eps=1e-6) if spec.pre_norm else nn.Identity()
        self.blocks = nn.ModuleList(Block(spec) for _ in range(spec.depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised pixels -> (B, num_patches, embed_dim) patch features."""
        x = self.patch_embed(x)
        prefix = []
        if self.spec.class_token:
            prefix.append(self.cls_token.expand(x.shape[0], -1, -1))
        if self.spec.reg_tokens:
            prefix.append(self.reg_token.expand(x.shape[0], -1, -1))
        if self.spec.no_embed_class:
            x = torch.cat(prefix + [x + self.pos_embed], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1) + self.pos_embed
        x = self.norm_pre(x)
        # Blocks 0 .. depth-2: the output of block depth-2 is what OpenVLA uses; the last block
        # exists only so that checkpoints load with their full parameter set.
        for blk in self.blocks[:-1]:
            x = blk(x)
        return x[:, self.num_prefix:]
