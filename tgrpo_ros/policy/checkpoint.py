# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Policy folders: save a whole policy, and load one from any of the three folder kinds.

``load_policy(path)`` recognises, in this order:
1. a tgrpo_ros policy folder (``tgrpo_policy.json``): the backend's model files, tokenizer,
   ``dataset_statistics.json``, the spec (cameras, preprocessing, prompt), and ``adapter/``
   (LoRA, verified by SHA-256), ``value_head.safetensors`` and ``proprio.safetensors`` (the
   state encoder, ``proprio.py``) when present;
2. an OpenVLA / Prismatic folder (``config.json`` with model_type ``openvla``/``prismatic``):
   backend 1, built from the config with no remote code (``prismatic.py``);
3. a Hugging Face image-text-to-text folder: backend 2 (``hf_vlm.py``).
Weights are read from safetensors only; pickle files are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file
import torch
from transformers import AutoTokenizer

from tgrpo_ros.policy.device import resolve_device, resolve_dtype
from tgrpo_ros.policy.hf_vlm import load_hf_vlm_policy, save_hf_vlm
from tgrpo_ros.policy.lora import base_state_dict, LoraSettings
from tgrpo_ros.policy.normalization import folder_statistics, STATISTICS_FILE
from tgrpo_ros.policy.preprocessing import ImagePreprocessing
from tgrpo_ros.policy.prismatic import CONFIG_FILE, PrismaticVLA, WEIGHTS_FILE
from tgrpo_ros.policy.prompt import LLAMA2_EMPTY_TOKEN
from tgrpo_ros.policy.token_policy import PolicySpec, TokenVLAPolicy
from tgrpo_ros.versioning import PolicyVersion

POLICY_FILE = 'tgrpo_policy.json'
ADAPTER_DIR = 'adapter'
VALUE_HEAD_FILE = 'value_head.safetensors'
PROPRIO_FILE = 'proprio.safetensors'
FORMAT = 'tgrpo_ros.policy'
FORMAT_VERSION = 1
PRISMATIC_MODEL_TYPES = ('openvla', 'prismatic')


def save_policy(policy: TokenVLAPolicy, folder: str | Path) -> Path:
    """Write everything needed to rebuild ``policy`` (base weights, adapter kept separate)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backbone = policy.backbone
    if policy.spec.backend == 'prismatic':
        with open(folder / CONFIG_FILE, 'w') as f:
            json.dump(backbone.config, f, indent=2)
        save_file(base_state_dict(backbone), str(folder / WEIGHTS_FILE),
                  metadata={'format': 'pt'})
    else:
        save_hf_vlm(backbone, folder)
    policy.tokenizer.save_pretrained(str(folder))
    with open(folder / STATISTICS_FILE, 'w') as f:
        json.dump(policy.statistics, f, indent=2)
    meta = {
        'format': FORMAT, 'format_version': FORMAT_VERSION, 'spec': policy.spec.to_dict(),
        'lora': policy.lora_settings.to_dict() if policy.peft is not None else None,
        'value_head': None, 'proprio': None,
        'version': {'version': policy.version.version, 'sha256': policy.version.sha256},
    }
    if policy.peft is not None:
        v = policy.save_adapter(str(folder / ADAPTER_DIR), policy.version.version)
        meta['version']['sha256'] = v.sha256
    if policy.value_head is not None:
        meta['value_head'] = {'width': policy.value_head.net[0].out_features}
        save_file({k: v.detach().cpu().contiguous()
                   for k, v in policy.value_head.state_dict().items()},
                  str(folder / VALUE_HEAD_FILE))
    if policy.proprio is not None:
        meta['proprio'] = {'state_names': policy.proprio.state_names}
        save_file({k: v.detach().float().cpu().contiguous()
                   for k, v in policy.proprio.state_dict().items()},
                  str(folder / PROPRIO_FILE))
    with open(folder / POLICY_FILE, 'w') as f:
        json.dump(meta, f, indent=2)
    return folder


def folder_kind(path: str | Path) -> str:
    """Return 'tgrpo', 'openvla' or 'hf_vlm' for a model folder; clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f'policy folder {path} does not exist')
    if not path.is_dir():
        raise NotADirectoryError(f'{path} is not a folder (expected a checkpoint folder)')
    if (path / POLICY_FILE).is_file():
        return 'tgrpo'
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f'{path} has neither {POLICY_FILE} nor {CONFIG_FILE}: not a '
                                'policy checkpoint folder')
    with open(path / CONFIG_FILE) as f:
        model_type = json.load(f).get('model_type', '')
    return 'openvla' if model_type in PRISMATIC_MODEL_TYPES else 'hf_vlm'


def saved_cameras(path: str | Path) -> list[str] | None:
    """Return the cameras a saved tgrpo_ros policy folder reads, in order (None otherwise).

    Lets a caller render exactly what the model reads instead of assuming agentview only:
    passing a different camera list to ``load_policy`` runs, but feeds the model the wrong
    image prefix.
    """
    path = Path(path)
    if folder_kind(path) != 'tgrpo':
        return None
    with open(path / POLICY_FILE) as f:
        return list(json.load(f)['spec']['cameras'])


def load_policy(path: str | Path, device: str | torch.device = 'cpu',
                dtype: str | torch.dtype = 'auto', *, unnorm_key: str | None = None,
                cameras: list[str] | None = None, trust_remote_code: bool = False,
                with_adapter: bool = True, statistics: dict | None = None,
                **spec_overrides) -> TokenVLAPolicy:
    """Load a policy from a folder (see the module docstring for the kinds recognised).

    unnorm_key / cameras / spec_overrides (PolicySpec fields) replace the stored or default
    values. device / dtype: see device.py ('auto' dtype: float32 on the CPU, bf16 on GPUs).
    trust_remote_code: let transformers run code the folder ships (``auto_map``); only backend-2
        folders whose model needs it. Always passed on explicitly: left unset, transformers
        asks on the terminal (a 15 s stall, or the folder's code run on 'y').
    statistics: action statistics (key -> OpenVLA-layout entry) added to the folder's own,
        replacing entries of the same key; a folder without any (a stock HF VLM) then loads
        too, as ``tgrpo-ros sft`` needs when it brings the demonstrations' statistics.
    """
    path = Path(path)
    kind = folder_kind(path)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    overrides = dict(spec_overrides)
    if unnorm_key is not None:
        overrides['unnorm_key'] = unnorm_key
    if cameras is not None:
        overrides['cameras'] = list(cameras)
    if kind == 'tgrpo':
        return _load_tgrpo(path, device, dtype, overrides, trust_remote_code, with_adapter,
                           statistics)
    if kind == 'openvla':
        return _load_openvla(path, device, dtype, overrides, trust_remote_code, statistics)
    # None: the backend reads the folder's own, after its remote-code check (clearer error).
    return load_hf_vlm_policy(path, device, dtype, overrides, trust_remote_code,
                              statistics=None if statistics is None
                              else _statistics(path, None, statistics))


def _statistics(path: Path, config: dict | None, extra: dict | None) -> dict:
    """Return the folder's statistics with ``extra`` on top (only ``extra`` if it has none)."""
    if extra is None:
        return folder_statistics(path, config)
    try:
        own = folder_statistics(path, config)
    except FileNotFoundError:
        own = {}
    return own | extra


def _tokenizer(path: Path, trust_remote_code: bool):
    if not any((path / f).is_file() for f in ('tokenizer.json', 'tokenizer.model')):
        raise FileNotFoundError(f'{path} has no tokenizer (tokenizer.json or tokenizer.model)')
    # Explicit, never None: an OpenVLA folder's config.json names remote classes (auto_map), and
    # with the flag unset transformers would prompt on stdin before falling back.
    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)


def _load_openvla(path: Path, device, dtype, overrides: dict, trust_remote_code: bool,
                  statistics: dict | None) -> TokenVLAPolicy:
    tokenizer = _tokenizer(path, trust_remote_code)
    backbone = PrismaticVLA.from_pretrained(path, device, dtype)
    # OpenVLA's Llama tokenizer: token 29871 follows "Out:" at training time (prompt.py).
    suffix = ([LLAMA2_EMPTY_TOKEN] if len(tokenizer) > LLAMA2_EMPTY_TOKEN and
              tokenizer.convert_ids_to_tokens(LLAMA2_EMPTY_TOKEN) == '\u2581' else [])
    spec = PolicySpec(cameras=['agentview'],
                      preprocessing=ImagePreprocessing(image_size=backbone.image_size),
                      prompt_suffix_ids=suffix, action_vocab_size=backbone.action_vocab_size,
                      gripper='openvla', backend='prismatic')
    return TokenVLAPolicy(backbone, tokenizer, spec.with_overrides(overrides),
                          _statistics(path, backbone.config, statistics))


def _load_tgrpo(path: Path, device, dtype, overrides: dict, trust_remote_code: bool,
                with_adapter: bool, statistics: dict | None) -> TokenVLAPolicy:
    with open(path / POLICY_FILE) as f:
        meta = json.load(f)
    if meta.get('format') != FORMAT or meta.get('format_version') != FORMAT_VERSION:
        raise ValueError(f'{path / POLICY_FILE}: unsupported format {meta.get("format")!r} '
                         f'version {meta.get("format_version")!r}')
    spec = PolicySpec.from_dict(meta['spec']).with_overrides(overrides)
    if spec.backend == 'prismatic':
        tokenizer = _tokenizer(path, trust_remote_code)
        backbone = PrismaticVLA.from_pretrained(path, device, dtype)
        policy = TokenVLAPolicy(backbone, tokenizer, spec,
                                _statistics(path, None, statistics))
    else:
        policy = load_hf_vlm_policy(path, device, dtype, spec.to_dict(), trust_remote_code,
                                    statistics=_statistics(path, None, statistics))
    if meta.get('proprio') is not None:  # before the adapter, which freezes it
        encoder = policy.add_proprio(meta['proprio']['state_names'])
        encoder.load_state_dict(load_file(str(path / PROPRIO_FILE)))
    if meta.get('lora') is not None:
        policy.add_lora(LoraSettings(**meta['lora']))
        if with_adapter:
            v = meta['version']
            policy.load_adapter(str(path / ADAPTER_DIR),
                                expected=PolicyVersion(int(v['version']), v['sha256']))
    if meta.get('value_head') is not None:
        head = policy.add_value_head(int(meta['value_head']['width']))
        head.load_state_dict(load_file(str(path / VALUE_HEAD_FILE)))
    return policy
