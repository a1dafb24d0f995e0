# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Backends 1 and 2 and policy folders: OpenVLA-layout checkpoints, LLaVA-style HF VLMs."""

import json
import time

import numpy as np
import pytest
from safetensors.torch import load_file, save_file
import torch
from transformers import (CLIPVisionConfig, GemmaConfig, Idefics3Config,
                          Idefics3ForConditionalGeneration, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, PaliGemmaConfig,
                          PaliGemmaForConditionalGeneration)

from tgrpo_ros.observation import Observation
from tgrpo_ros.policy.checkpoint import folder_kind, load_policy, save_policy
from tgrpo_ros.policy.hf_vlm import HFVLMBackbone, text_action_vocab_size
from tgrpo_ros.policy.lora import LoraSettings
from tgrpo_ros.policy.normalization import compute_dataset_statistics
from tgrpo_ros.policy.preprocessing import ImagePreprocessing
from tgrpo_ros.policy.openvla_layout import expected_parameter_names, openvla_7b_config
from tgrpo_ros.policy.prismatic import build_module, PrismaticVLA
from tgrpo_ros.policy.prompt import build_prompt
from tgrpo_ros.policy.tiny import build_tiny_policy, build_tiny_tokenizer, tiny_config
from tgrpo_ros.policy.token_policy import PolicySpec, TokenVLAPolicy


def observations(n=3, seed=0):
    rng = np.random.default_rng(seed)
    texts = ['lift', 'put the bowl on the plate', 'pick up the ketchup and place it in the basket']
    return [Observation(images={'agentview': rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)},
                        instruction=texts[i % 3]) for i in range(n)]


def libero_statistics():
    rng = np.random.default_rng(0)
    demo = np.concatenate([rng.normal(0, 0.3, (500, 6)), rng.uniform(0, 1, (500, 1))], axis=1)
    return {'libero_object_no_noops': compute_dataset_statistics(demo)}


def write_openvla_folder(folder, seed=0):
    """Write a tiny checkpoint laid out as OpenVLA's (config fields, names, statistics)."""
    torch.manual_seed(seed)
    model = build_module(PrismaticVLA, tiny_config('test'), 'cpu', torch.float32)
    stats = libero_statistics()
    model.config['norm_stats'] = stats
    model.save_pretrained(folder)
    build_tiny_tokenizer().save_pretrained(str(folder))
    (folder / 'dataset_statistics.json').write_text(json.dumps(stats))
    return model


def test_module_names_follow_openvla_layout():
    tiny = build_module(PrismaticVLA, tiny_config('test'), 'cpu', torch.float32)
    assert set(tiny.state_dict()) == expected_parameter_names(
        (2, 2), 2, True, (True, False), (True, False), (True, False), (False, False))
    # The full-size model from OpenVLA's published config (on the meta device: no memory).
    full = build_module(PrismaticVLA, openvla_7b_config(), 'meta', torch.bfloat16)
    assert set(full.state_dict()) == expected_parameter_names(
        (24, 27), 32, True, (True, False), (True, False), (True, False), (False, False))
    n = sum(p.numel() for p in full.parameters())
    assert 7.4e9 < n < 7.6e9
    assert full.action_vocab_size == 32000
    assert full.state_dict()['vision_backbone.fused_featurizer.pos_embed'].shape == (1, 256, 1152)
    assert full.state_dict()['projector.fc1.weight'].shape == (4 * 2176, 2176)


def test_openvla_folder_loads_through_backend_1(tmp_path):
    model = write_openvla_folder(tmp_path)
    assert folder_kind(tmp_path) == 'openvla'
    pol = load_policy(tmp_path)
    assert pol.spec.gripper == 'openvla' and pol.spec.cameras == ['agentview']
    assert pol.unnorm_key == 'libero_object_no_noops'
    assert pol.spec.preprocessing.center_crop and pol.spec.preprocessing.jpeg
    obs = observations(3)
    s = pol.sample(obs, 1.0, torch.Generator().manual_seed(0))
    assert s.actions.shape == (3, 7) and set(np.unique(s.actions[:, -1])) <= {-1.0, 1.0}
    assert torch.allclose(pol.token_logprobs(obs, s.token_ids, grad=False), s.logprobs,
                          atol=1e-5)
    # The loaded weights are the written ones.
    for k, v in model.state_dict().items():
        assert torch.equal(pol.backbone.state_dict()[k], v), k
    # Un-normalised with the q01/q99 of the chosen key.
    q01 = np.array(pol.statistics['libero_object_no_noops']['action']['q01'])
    q99 = np.array(pol.statistics['libero_object_no_noops']['action']['q99'])
    assert np.all(s.actions[:, :6] >= q01[:6] - 1e-9) and np.all(s.actions[:, :6] <= q99[:6])
    with pytest.raises(KeyError, match='libero_spatial.*available keys.*libero_object_no_noops'):
        load_policy(tmp_path, unnorm_key='libero_spatial')


def test_openvla_checkpoint_errors(tmp_path):
    write_openvla_folder(tmp_path)
    weights = load_file(str(tmp_path / 'model.safetensors'))
    # SigLIP's unused attention-pool head (present in OpenVLA's files) is skipped.
    extra = dict(weights)
    extra['vision_backbone.fused_featurizer.attn_pool.latent'] = torch.zeros(1, 1, 64)
    save_file(extra, str(tmp_path / 'model.safetensors'))
    load_policy(tmp_path)
    extra['vision_backbone.featurizer.blocks.9.attn.qkv.weight'] = torch.zeros(3, 3)
    save_file(extra, str(tmp_path / 'model.safetensors'))
    with pytest.raises(ValueError, match='unknown tensors'):
        load_policy(tmp_path)
    del weights['projector.fc3.bias']
    save_file(weights, str(tmp_path / 'model.safetensors'))
    with pytest.raises(ValueError, match='lacks 1 tensors.*projector.fc3.bias'):
        load_policy(tmp_path)
    (tmp_path / 'tokenizer.json').rename(tmp_path / 'tokenizer.json.hidden')
    with pytest.raises(FileNotFoundError, match='no tokenizer'):
        load_policy(tmp_path)
    (tmp_path / 'tokenizer.json.hidden').rename(tmp_path / 'tokenizer.json')
    (tmp_path / 'model.safetensors').rename(tmp_path / 'pytorch_model.bin')
    with pytest.raises(ValueError, match='pickle'):
        load_policy(tmp_path)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_policy(tmp_path / 'nope')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='not a policy checkpoint folder'):
        load_policy(tmp_path / 'empty')


class _NoStdin:
    """Stands in for sys.stdin: records and refuses every read."""

    def __init__(self, reads: list) -> None:
        self.reads = reads

    def _refuse(self, *args, **kwargs):
        self.reads.append(args)
        raise OSError('the test forbids reading stdin')

    read = readline = readlines = __iter__ = _refuse

    def isatty(self) -> bool:
        return True  # look like a terminal, where transformers would ask its question

    def fileno(self) -> int:
        raise OSError('no stdin')


def test_openvla_folder_with_auto_map_never_reads_stdin(tmp_path, monkeypatch):
    """Published OpenVLA folders name remote classes (``auto_map``) in both config files.

    Without an explicit ``trust_remote_code`` transformers asks "run the custom code? [y/N]"
    on stdin (a 15 s stall, or the folder's code run on 'y'). The folder's "remote code" here
    writes a marker file if it is ever imported.
    """
    write_openvla_folder(tmp_path)
    marker = tmp_path / 'REMOTE_CODE_RAN'
    for name in ('configuration_prismatic', 'modeling_prismatic', 'processing_prismatic',
                 'tokenization_prismatic'):
        (tmp_path / f'{name}.py').write_text(
            f'import pathlib\npathlib.Path({str(marker)!r}).write_text("{name}")\n')
    config = json.loads((tmp_path / 'config.json').read_text())
    config['auto_map'] = {'AutoConfig': 'configuration_prismatic.OpenVLAConfig',
                          'AutoModelForVision2Seq':
                              'modeling_prismatic.OpenVLAForActionPrediction'}
    (tmp_path / 'config.json').write_text(json.dumps(config))
    tok_config = json.loads((tmp_path / 'tokenizer_config.json').read_text())
    # No tokenizer_class: transformers then consults config.json and its auto_map.
    tok_config.pop('tokenizer_class', None)
    tok_config['auto_map'] = {'AutoProcessor': 'processing_prismatic.PrismaticProcessor',
                              'AutoTokenizer': [None, 'tokenization_prismatic.PrismaticTokenizer']}
    (tmp_path / 'tokenizer_config.json').write_text(json.dumps(tok_config))

    reads: list = []

    def no_input(*args, **kwargs):
        reads.append(args)
        raise EOFError('the test forbids reading stdin')

    monkeypatch.setattr('builtins.input', no_input)
    monkeypatch.setattr('sys.stdin', _NoStdin(reads))
    start = time.monotonic()
    try:
        pol = load_policy(tmp_path)
    except ValueError as e:  # refusing is acceptable, provided it says how to consent
        assert 'trust_remote_code' in str(e)
        pol = None
    assert reads == [], 'loading asked a question on stdin'
    assert not marker.exists(), f"the folder's code ran: {marker.read_text()}"
    assert time.monotonic() - start < 10
    # A backend-1 folder needs none of its code, so it must load, not just refuse politely.
    assert pol is not None and pol.spec.backend == 'prismatic'
    s = pol.sample(observations(2), 1.0, torch.Generator().manual_seed(0))
    assert s.actions.shape == (2, 7)


def test_policy_folder_round_trip(tmp_path):
    pol = build_tiny_policy('test', seed=1, statistics=libero_statistics())
    pol.add_lora(LoraSettings(rank=4))
    with torch.no_grad():
        for n, p in pol.backbone.named_parameters():
            if 'lora_B' in n:
                p.normal_(0, 0.05)
    pol.add_value_head(width=8)
    with torch.no_grad():
        pol.value_head.net[2].weight.normal_()
    pol.save_adapter(str(tmp_path / 'scratch'), version=5)
    pol.load_adapter(str(tmp_path / 'scratch'))
    save_policy(pol, tmp_path / 'saved')
    again = load_policy(tmp_path / 'saved')
    assert again.version == pol.version and again.version.version == 5
    obs = observations(3)
    ids = pol.sample(obs, 1.0, torch.Generator().manual_seed(0)).token_ids
    lp, v = pol.evaluate(obs, ids, grad=False, values=True)
    lp2, v2 = again.evaluate(obs, ids, grad=False, values=True)
    assert torch.equal(lp, lp2) and torch.equal(v, v2)
    assert torch.equal(pol.token_logprobs(obs, ids, grad=False, use_adapter=False),
                       again.token_logprobs(obs, ids, grad=False, use_adapter=False))
    assert again.spec == pol.spec
    # Tampering with the adapter is caught on load.
    meta = json.loads((tmp_path / 'saved' / 'tgrpo_policy.json').read_text())
    meta['version']['sha256'] = 'f' * 64
    (tmp_path / 'saved' / 'tgrpo_policy.json').write_text(json.dumps(meta))
    with pytest.raises(ValueError, match='SHA-256'):
        load_policy(tmp_path / 'saved')


def tiny_llava(folder):
    tok = build_tiny_tokenizer()
    tok.add_special_tokens({'additional_special_tokens': ['<image>']})
    image_id = tok.convert_tokens_to_ids('<image>')
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=8,
                              projection_dim=32)
    text = LlamaConfig(vocab_size=1088, hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                       pad_token_id=1024, bos_token_id=1, eos_token_id=2)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_id=image_id,
                      vision_feature_layer=-2, vision_feature_select_strategy='default')
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(cfg)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    (folder / 'dataset_statistics.json').write_text(json.dumps(libero_statistics()))
    return model, tok


def test_llava_style_model_through_backend_2(tmp_path):
    model, tok = tiny_llava(tmp_path)
    assert text_action_vocab_size(tok) == 1024        # just below <PAD>, <image>
    assert folder_kind(tmp_path) == 'hf_vlm'
    pol = load_policy(tmp_path)
    assert pol.spec.backend == 'hf_vlm' and pol.action_tokenizer.first_id == 768
    assert isinstance(pol.backbone, HFVLMBackbone)
    obs = observations(3)
    ids = pol.prompt_ids(obs[1].instruction)
    row = pol.backbone.layout(ids, 16, 1)
    assert row[0] == 1 and row[1:17] == [tok.convert_tokens_to_ids('<image>')] * 16
    s = pol.sample(obs, 1.0, torch.Generator().manual_seed(0))
    assert ((s.token_ids >= 768) & (s.token_ids < 1024)).all()
    assert torch.allclose(pol.token_logprobs(obs, s.token_ids, grad=False), s.logprobs,
                          atol=1e-5)
    # Our prefix equals HF's own multimodal forward on the same ids and pixels.
    pixels = torch.rand(1, 1, 3, 32, 32)
    hf_ids = torch.tensor([row])
    with torch.no_grad():
        ours = pol.backbone.prefix_embeddings(pixels, [ids])[0]
        h_ours, _ = pol.backbone.decoder(ours[None], torch.ones(1, len(row), dtype=torch.long),
                                         torch.arange(len(row))[None])
        ref = model(input_ids=hf_ids, pixel_values=(pixels[:, 0] - pol.backbone.mean)
                    / pol.backbone.std).logits
    assert torch.allclose(pol.backbone.logits(h_ours), ref, atol=1e-4)
    # LoRA, adapter and folder round trip work the same on this backend.
    pol.add_lora(LoraSettings(rank=2))
    with torch.no_grad():
        for n, p in pol.backbone.named_parameters():
            if 'lora_B' in n:
                p.normal_(0, 0.05)
    save_policy(pol, tmp_path / 'saved')
    again = load_policy(tmp_path / 'saved')
    assert torch.allclose(again.token_logprobs(obs, s.token_ids, grad=False),
                          pol.token_logprobs(obs, s.token_ids, grad=False), atol=1e-6)


def test_remote_code_needs_consent(tmp_path):
    (tmp_path / 'config.json').write_text(json.dumps(
        {'model_type': 'my_custom_vla', 'auto_map': {'AutoModel': 'modeling_x.MyVLA'}}))
    with pytest.raises(ValueError, match='trust_remote_code=True'):
        load_policy(tmp_path)


def _family_model(family, tok):
    image_id = tok.convert_tokens_to_ids('<image>')
    small_text = {'vocab_size': 1088, 'hidden_size': 64, 'intermediate_size': 128,
                  'num_hidden_layers': 2, 'num_attention_heads': 4}
    vision = {'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 2,
              'num_attention_heads': 2, 'image_size': 32, 'patch_size': 8}
    torch.manual_seed(0)
    if family == 'paligemma':
        cfg = PaliGemmaConfig(vision_config={**vision, 'model_type': 'siglip_vision_model'},
                              text_config=GemmaConfig(num_key_value_heads=1, head_dim=16,
                                                      **small_text).to_dict(),
                              image_token_id=image_id, projection_dim=64)
        cfg.vision_config.projection_dim = 64
        return PaliGemmaForConditionalGeneration(cfg)
    cfg = Idefics3Config(vision_config=vision, text_config=LlamaConfig(**small_text).to_dict(),
                         image_token_id=image_id, scale_factor=2)
    return Idefics3ForConditionalGeneration(cfg)


@pytest.mark.parametrize('family', ['paligemma', 'idefics3'])
def test_other_families_build_the_prefix_their_model_builds(family):
    tok = build_tiny_tokenizer()
    tok.add_special_tokens({'additional_special_tokens': [
        '<image>', '<fake_token_around_image>', '<global-img>']})
    model = _family_model(family, tok)
    backbone = HFVLMBackbone(model, tok)
    ids = tok(build_prompt('put the bowl on the plate'))['input_ids']
    pixels = torch.rand(1, 1, 3, 32, 32)
    with torch.no_grad():
        n = backbone._image_features(pixels[:, 0]).shape[1]
        row = backbone.layout(ids, n, 1)
        emb = backbone.prefix_embeddings(pixels, [ids])[0]
        hidden, _ = backbone.decoder(emb[None], torch.ones(1, len(row), dtype=torch.long),
                                     torch.arange(len(row))[None])
        x = (pixels - 0.5) / 0.5
        ref = model(input_ids=torch.tensor([row]),
                    pixel_values=x[:, 0] if family == 'paligemma' else x).logits
    assert torch.allclose(backbone.logits(hidden), ref, atol=1e-4)
    if family == 'paligemma':
        assert row[:n] == [tok.convert_tokens_to_ids('<image>')] * n and row[n] == 1
    else:
        assert row[1:3] == backbone.wrap_ids and row[3 + n] == backbone.wrap_ids[0]
    spec = PolicySpec(cameras=['agentview'], preprocessing=ImagePreprocessing(32, jpeg=False),
                      action_vocab_size=text_action_vocab_size(tok), backend='hf_vlm')
    policy = TokenVLAPolicy(backbone, tok, spec, libero_statistics())
    obs = observations(3)
    s = policy.sample(obs, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(policy.token_logprobs(obs, s.token_ids, grad=False), s.logprobs,
                          atol=1e-5)
