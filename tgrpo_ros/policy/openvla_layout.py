# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""OpenVLA's checkpoint layout: the config fields and parameter names backend 1 relies on.

Derived by reading (not copying) openvla/openvla at commit
2aef8baaeefaee404b4c66d2d24054ee4f70eb0f (main branch; the last change to ``prismatic/extern/hf/``
there, identical in main's later commits):
``prismatic/extern/hf/configuration_prismatic.py`` (PrismaticConfig / OpenVLAConfig fields) and
``prismatic/extern/hf/modeling_prismatic.py`` (module tree: ``vision_backbone.featurizer`` /
``fused_featurizer`` timm ViTs built with ``num_classes=0`` whose forward returns the patches of
the second-to-last block, LayerScale ``gamma`` renamed ``scale_factor``; ``projector.fc1..fc3``
(GELU MLP, the fused variant 4x vision width first); ``language_model`` =
``AutoModelForCausalLM.from_config(text_config)``; patches inserted after BOS;
``OpenVLAForActionPrediction`` computes the de-tokenisation vocabulary as
``text_config.vocab_size - pad_to_multiple_of``). The timm-side names follow the
``VisionTransformer`` of timm 0.9 (that commit's ``pyproject.toml`` pins timm 0.9.10).
``test/policy/test_policy_backends.py`` checks our module tree against the lists below.
"""

from __future__ import annotations

# Fields of OpenVLA's config.json (model_type "openvla") that backend 1 reads or writes.
OPENVLA_CONFIG_FIELDS: dict[str, str] = {
    'model_type': '"openvla" (OpenVLAConfig) or "prismatic" (PrismaticConfig)',
    'vision_backbone_id': 'e.g. "dinosiglip-vit-so-224px"',
    'llm_backbone_id': 'e.g. "llama2-7b-pure"',
    'arch_specifier': 'projector kind, e.g. "no-align+fused-gelu-mlp"',
    'use_fused_vision_backbone': 'two featurizers (DINOv2 + SigLIP), patches concatenated',
    'image_resize_strategy': '"resize-naive" for OpenVLA (plain resize, no letterbox)',
    'timm_model_ids': 'timm ids of featurizer and fused_featurizer',
    'timm_override_act_layers': 'activation overrides (None for dinosiglip)',
    'image_sizes': 'input side per featurizer, e.g. [224, 224]',
    'hf_llm_id': 'the LLM the model started from (informational)',
    'llm_max_length': 'maximum LLM sequence length',
    'text_config': 'the LLM config (model_type "llama"; vocab_size 32064 = 32000 + pad, x64)',
    'pad_token_id': '32000 for OpenVLA',
    'pad_to_multiple_of': '64 for OpenVLA',
    'output_projector_states': 'unused here',
    'norm_stats': 'dataset key -> {"action": {q01, q99, mean, std, min, max, mask}, ...}',
    'n_action_bins': '256',
    'auto_map': 'remote-code classes (never imported by backend 1)',
    'torch_dtype': 'dtype of the stored weights',
}

# Extension fields written by tgrpo_ros into the same config.json (ignored by OpenVLA's code).
EXTENSION_CONFIG_FIELDS: dict[str, str] = {
    'vision_specs': 'list of ViTSpec dicts replacing timm ids (tiny models)',
    'attn_implementation': 'attention kernel of the LLM ("sdpa" by default)',
}

# Parameter names, with {i} a block / layer index. Prefixes F = vision_backbone.featurizer,
# FF = vision_backbone.fused_featurizer.
FEATURIZER_PARAMETERS = (
    'patch_embed.proj.weight', 'patch_embed.proj.bias', 'pos_embed',
    'cls_token',            # DINOv2 (and CLIP) only
    'reg_token',            # DINOv2-reg4 only
    'norm_pre.weight', 'norm_pre.bias',   # CLIP only
    'blocks.{i}.norm1.weight', 'blocks.{i}.norm1.bias',
    'blocks.{i}.attn.qkv.weight', 'blocks.{i}.attn.qkv.bias',
    'blocks.{i}.attn.proj.weight', 'blocks.{i}.attn.proj.bias',
    'blocks.{i}.ls1.scale_factor',        # DINOv2 LayerScale (timm "gamma", renamed)
    'blocks.{i}.norm2.weight', 'blocks.{i}.norm2.bias',
    'blocks.{i}.mlp.fc1.weight', 'blocks.{i}.mlp.fc1.bias',
    'blocks.{i}.mlp.fc2.weight', 'blocks.{i}.mlp.fc2.bias',
    'blocks.{i}.ls2.scale_factor',
    'norm.weight', 'norm.bias',
)
PROJECTOR_PARAMETERS = (
    'projector.fc1.weight', 'projector.fc1.bias', 'projector.fc2.weight', 'projector.fc2.bias',
    'projector.fc3.weight', 'projector.fc3.bias',  # fused backbones only
)
LLAMA_PARAMETERS = (
    'language_model.model.embed_tokens.weight',
    'language_model.model.layers.{i}.self_attn.q_proj.weight',
    'language_model.model.layers.{i}.self_attn.k_proj.weight',
    'language_model.model.layers.{i}.self_attn.v_proj.weight',
    'language_model.model.layers.{i}.self_attn.o_proj.weight',
    'language_model.model.layers.{i}.mlp.gate_proj.weight',
    'language_model.model.layers.{i}.mlp.up_proj.weight',
    'language_model.model.layers.{i}.mlp.down_proj.weight',
    'language_model.model.layers.{i}.input_layernorm.weight',
    'language_model.model.layers.{i}.post_attention_layernorm.weight',
    'language_model.model.norm.weight',
    'language_model.lm_head.weight',
)
# Parts of timm featurizers that a checkpoint may carry but OpenVLA's forward never uses, skipped
# when loading: SigLIP's attention-pool head (timm builds it even with num_classes=0, and the
# forward stops at an intermediate block); head / fc_norm only in checkpoints saved from other
# timm builds (num_classes=0 makes them parameter-free).
SKIPPED_CHECKPOINT_PARTS = ('.attn_pool.', '.head.', '.fc_norm.')


def expected_parameter_names(depths: tuple[int, ...], n_layers: int, fused: bool,
                             has_cls: tuple[bool, ...], has_reg: tuple[bool, ...],
                             layer_scale: tuple[bool, ...], pre_norm: tuple[bool, ...]
                             ) -> set[str]:
    """Expand the patterns above into the full name set of one configuration."""
    names: set[str] = set()
    prefixes = ['vision_backbone.featurizer'] + (['vision_backbone.fused_featurizer']
                                                 if fused else [])
    for k, prefix in enumerate(prefixes):
        for pattern in FEATURIZER_PARAMETERS:
            if (pattern == 'cls_token' and not has_cls[k]) or \
               (pattern == 'reg_token' and not has_reg[k]) or \
               (pattern.startswith('norm_pre') and not pre_norm[k]) or \
               ('.ls' in pattern and not layer_scale[k]):
                continue
            reps = range(depths[k]) if '{i}' in pattern else [0]
            names.update(f'{prefix}.{pattern.format(i=i)}' for i in reps)
    names.update(p for p in PROJECTOR_PARAMETERS if fused or 'fc3' not in p)
    for pattern in LLAMA_PARAMETERS:
        reps = range(n_layers) if '{i}' in pattern else [0]
        names.update(pattern.format(i=i) for i in reps)
    return names


def openvla_7b_config(norm_stats: dict | None = None) -> dict:
    """Return OpenVLA-7B's published config.json fields (openvla/openvla-7b, OpenVLAConfig).

    ``text_config`` names only what differs from LlamaConfig's defaults (which are Llama-2-7B:
    hidden 4096, 32 layers, 32 heads, FFN 11008), as the published file does.
    """
    return {
        'model_type': 'openvla',
        'vision_backbone_id': 'dinosiglip-vit-so-224px',
        'llm_backbone_id': 'llama2-7b-pure',
        'arch_specifier': 'no-align+fused-gelu-mlp',
        'use_fused_vision_backbone': True,
        'image_resize_strategy': 'resize-naive',
        'timm_model_ids': ['vit_large_patch14_reg4_dinov2.lvd142m',
                           'vit_so400m_patch14_siglip_224'],
        'timm_override_act_layers': [None, None],
        'image_sizes': [224, 224],
        'hf_llm_id': 'meta-llama/Llama-2-7b-hf',
        'llm_max_length': 2048,
        'pad_token_id': 32000,
        'pad_to_multiple_of': 64,
        'output_projector_states': False,
        'n_action_bins': 256,
        'norm_stats': norm_stats or {},
        'text_config': {'model_type': 'llama', 'pad_token_id': 32000, 'vocab_size': 32064},
        'torch_dtype': 'bfloat16',
    }
