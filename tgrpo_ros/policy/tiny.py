# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Backend 3: tiny OpenVLA-architecture models and their tokenizer, built with no download.

Same module tree as OpenVLA (``prismatic.py``): DINOv2-like + SigLIP-like featurizers (fused
patches), 3-layer GELU projector, Llama. The tokenizer is a byte-level BPE trained here on a
small built-in corpus, then 256 placeholder tokens ``<act_000>``..``<act_255>`` fill the last 256
ids of the text vocabulary (as OpenVLA overwrites Llama's last 256 tokens), then ``<PAD>``;
the embedding matrix is padded to a multiple of 64 as in OpenVLA.

Sizes (parameter counts printed by ``count_parameters``): ``test`` ~1M at 32 px, ``cpu-2m``
~2M at 64 px, ``cpu-5m``
~5M at 128 px, ``cpu-20m`` ~20M at 128 px, ``1b`` ~1B at 224 px (GPU benchmarks only).
"""

from __future__ import annotations

from tokenizers import decoders, models, pre_tokenizers, processors, Tokenizer, trainers
import torch
from transformers import PreTrainedTokenizerFast

from tgrpo_ros.policy.device import resolve_device, resolve_dtype
from tgrpo_ros.policy.preprocessing import ImagePreprocessing
from tgrpo_ros.policy.prismatic import build_module, PrismaticVLA
from tgrpo_ros.policy.token_policy import PolicySpec, TokenVLAPolicy
from tgrpo_ros.policy.vision import HALF, IMAGENET_MEAN, IMAGENET_STD

TEXT_VOCAB = 1024      # ordinary text tokens incl. the 256 action placeholders
PAD_TO_MULTIPLE_OF = 64

# Words of LIBERO-style instructions and the OpenVLA prompt; enough for a compact BPE.
_CORPUS = """In: What action should the robot take to {}?
Out:""".split('\n')
_TASKS = (
    'pick up the alphabet soup and place it in the basket',
    'pick up the cream cheese and place it in the basket',
    'pick up the salad dressing and place it in the basket',
    'pick up the bbq sauce and place it in the basket',
    'pick up the ketchup and place it in the basket',
    'pick up the tomato sauce and place it in the basket',
    'pick up the butter and place it in the basket',
    'pick up the milk and place it in the basket',
    'pick up the chocolate pudding and place it in the basket',
    'pick up the orange juice and place it in the basket',
    'open the middle drawer of the cabinet', 'put the bowl on the stove',
    'put the wine bottle on top of the cabinet', 'open the top drawer and put the bowl inside',
    'put the bowl on top of the cabinet', 'push the plate to the front of the stove',
    'put the cream cheese in the bowl', 'turn on the stove', 'put the bowl on the plate',
    'put the wine bottle on the rack', 'pick up the black bowl between the plate and the '
    'ramekin and place it on the plate', 'put both the alphabet soup and the tomato sauce in '
    'the basket', 'turn on the stove and put the moka pot on it', 'lift the red cube',
    'stack the green block on the yellow block', 'move the arm left right up down forward',
)

SIZES = {
    # name: (image px, patch, vit dim, vit depth, vit heads, llm dim, llm layers, llm heads, ffn)
    'test': (32, 8, 64, 2, 2, 128, 2, 4, 256),
    # 64 px: at 32 px a LIBERO object spans a few pixels, too few to grasp it reliably
    'cpu-2m': (64, 8, 96, 2, 4, 192, 3, 4, 512),
    'cpu-5m': (128, 16, 128, 3, 4, 256, 4, 4, 688),
    'cpu-20m': (128, 16, 192, 4, 6, 512, 5, 8, 1376),
    '1b': (224, 14, 768, 12, 12, 2048, 16, 16, 5504),
}


def build_tiny_tokenizer(text_vocab: int = TEXT_VOCAB) -> PreTrainedTokenizerFast:
    """Train the tiny BPE tokenizer (deterministic; milliseconds).

    Ids: 0 ``<unk>``, 1 ``<s>``, 2 ``</s>``, ..., ``text_vocab - 256 .. text_vocab - 1`` the
    action placeholders, ``text_vocab`` ``<PAD>``.
    """
    if text_vocab < 256 + 300:
        raise ValueError('text_vocab must leave room for bytes, merges and 256 action tokens')
    tok = Tokenizer(models.BPE(unk_token='<unk>'))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=text_vocab - 256, special_tokens=['<unk>', '<s>', '</s>'],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    lines = [_CORPUS[0].format(t) + '\n' + _CORPUS[1] for t in _TASKS] * 4
    tok.train_from_iterator(lines, trainer=trainer)
    base = tok.get_vocab_size()
    # Placeholders fill up to text_vocab so that action ids are exactly the last 256 text ids
    # (BPE may learn fewer merges than asked on a small corpus).
    fillers = [f'<act_{i:03d}>' for i in range(text_vocab - base)]
    tok.add_tokens(fillers)
    tok.add_special_tokens(['<PAD>'])
    tok.post_processor = processors.TemplateProcessing(single='<s> $A',
                                                       special_tokens=[('<s>', 1)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token='<s>', eos_token='</s>',
                                      unk_token='<unk>', pad_token='<PAD>')
    assert wrapped.convert_tokens_to_ids('<PAD>') == text_vocab
    return wrapped


def tiny_config(size: str = 'test', cameras: int = 1, text_vocab: int = TEXT_VOCAB) -> dict:
    """Return an OpenVLA-layout config.json dict for a tiny model (``vision_specs`` extension)."""
    if size not in SIZES:
        raise ValueError(f'unknown tiny size {size!r}; choose from {sorted(SIZES)}')
    px, patch, vd, vdepth, vheads, d, layers, heads, ffn = SIZES[size]
    common = {'embed_dim': vd, 'depth': vdepth, 'num_heads': vheads, 'mlp_hidden': 4 * vd,
              'patch_size': patch, 'image_size': px}
    dino = dict(common, class_token=True, reg_tokens=4, no_embed_class=True, layer_scale=True,
                mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))
    siglip = dict(common, class_token=False, mean=list(HALF), std=list(HALF))
    vocab = text_vocab + PAD_TO_MULTIPLE_OF  # pad token, then padded to a multiple of 64
    return {
        'model_type': 'openvla',
        'vision_backbone_id': 'dinosiglip-vit-so-224px',
        'llm_backbone_id': 'llama2-7b-pure',
        'arch_specifier': 'no-align+fused-gelu-mlp',
        'use_fused_vision_backbone': True,
        'image_resize_strategy': 'resize-naive',
        'image_sizes': [px, px],
        'vision_specs': [dino, siglip],
        'llm_max_length': 2048,
        'pad_token_id': text_vocab,
        'pad_to_multiple_of': PAD_TO_MULTIPLE_OF,
        'n_action_bins': 256,
        'text_config': {
            'model_type': 'llama', 'vocab_size': vocab, 'hidden_size': d,
            'intermediate_size': ffn, 'num_hidden_layers': layers, 'num_attention_heads': heads,
            'num_key_value_heads': heads, 'max_position_embeddings': 2048,
            'rms_norm_eps': 1e-6, 'pad_token_id': text_vocab, 'bos_token_id': 1,
            'eos_token_id': 2, 'tie_word_embeddings': False,
        },
    }


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def default_statistics(key: str = 'tiny') -> dict:
    """Statistics that make the tiny policy's normalised space equal the environment's."""
    return {key: {'action': {
        'q01': [-1.0] * 6 + [-1.0], 'q99': [1.0] * 6 + [1.0],
        'mean': [0.0] * 7, 'std': [1.0] * 7, 'min': [-1.0] * 7, 'max': [1.0] * 7,
        'mask': [True] * 6 + [False]}}}


def build_tiny_policy(size: str = 'test', seed: int = 0, cameras: tuple[str, ...] = ('agentview',),
                      statistics: dict | None = None, unnorm_key: str | None = None,
                      device: str | torch.device = 'cpu', dtype: str | torch.dtype = 'auto',
                      jpeg: bool = False, center_crop: bool = False) -> TokenVLAPolicy:
    """Build a randomly initialised tiny OpenVLA-architecture policy (``SIZES`` gives the choices).

    Environment-space gripper convention ('env', binarised): trained from scratch on
    environment actions, it needs no OpenVLA gripper conversion.
    """
    config = tiny_config(size)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    torch.manual_seed(seed)
    backbone = build_module(PrismaticVLA, config, device, dtype)
    spec = PolicySpec(
        cameras=list(cameras),
        preprocessing=ImagePreprocessing(image_size=backbone.image_size, jpeg=jpeg,
                                         center_crop=center_crop),
        action_vocab_size=backbone.action_vocab_size, unnorm_key=unnorm_key, gripper='env',
        backend='prismatic')
    return TokenVLAPolicy(backbone, build_tiny_tokenizer(), spec,
                          statistics or default_statistics())
