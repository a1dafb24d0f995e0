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

from safetensors.torch import save_file
import torch
from transformers import AutoTokenizer

from tgrpo_ros.policy.device import resolve_device, resolve_dtype
from tgrpo_ros.policy.hf_vlm import load_hf_vlm_policy, save_hf_vlm
from tgrpo_ros.policy.lora import base_state_dict, LoraSettings
from tgrpo_ros.policy.normalization import folder_statistics, STATISTICS_FILE
from tgrpo_ros.policy.preprocessing import ImagePreprocessing
from tgrpo_ros.policy.prismatic import CONFIG_FILE, PrismaticVLA, WEIGHTS_FILE
from tgrpo_ros.policy.prompt import LLAMA2_EMPTY_TOKEN
from tgrpo_ros.policy.tensor_file import check_fits, read_tensors
from tgrpo_ros.policy.token_policy import PolicySpec, TokenVLAPolicy
from tgrpo_ros.versioning import PolicyVersion

POLICY_FILE = 'tgrpo_policy.json'
ADAPTER_DIR = 'adapter'
VALUE_HEAD_FILE = 'value_head.safetensors'
PROPRIO_FILE = 'proprio.safetensors'
FORMAT = 'tgrpo_ros.policy'
FORMAT_VERSION = 1
PRISMATIC_MODEL_TYPES = ('openvla', 'prismatic')
BACKENDS = ('prismatic', 'hf_vlm')


class PolicyFolderError(ValueError):
    """A policy folder's file is malformed; the message names the file and the field."""


def _read_json(path: Path) -> dict:
    """Return a JSON file's top-level object; a garbled or non-object file names itself."""
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise PolicyFolderError(f'{path}: not valid JSON ({exc})') from None
    if not isinstance(data, dict):
        raise PolicyFolderError(f'{path}: expected a JSON object, got {type(data).__name__}')
    return data


def _field(meta: dict, path: Path, dotted: str, kind: type | tuple[type, ...]):
    """``meta[a][b]`` for ``dotted`` 'a.b', checked for type; errors name file and field."""
    node = meta
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            raise PolicyFolderError(f'{path}: missing field {dotted!r}')
        node = node[part]
    if isinstance(node, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)) \
            or not isinstance(node, kind):
        raise PolicyFolderError(f'{path}: field {dotted!r} = {node!r} has the wrong type')
    return node


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
    parts = [p for p in (ADAPTER_DIR, PROPRIO_FILE, VALUE_HEAD_FILE) if (path / p).exists()]
    if parts:  # loaded as a bare OpenVLA folder, it would silently drop them
        raise FileNotFoundError(f'{path} holds {", ".join(parts)} of a tgrpo_ros policy but no '
                                f'{POLICY_FILE}, which says how to load them')
    model_type = _read_json(path / CONFIG_FILE).get('model_type', '')
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
    return list(_field(_read_json(path / POLICY_FILE), path / POLICY_FILE, 'spec.cameras',
                       list))


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


TOKENIZER_JSON = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json')


def _tokenizer(path: Path, trust_remote_code: bool):
    if not any((path / f).is_file() for f in ('tokenizer.json', 'tokenizer.model')):
        raise FileNotFoundError(f'{path} has no tokenizer (tokenizer.json or tokenizer.model)')
    # transformers reads these too; a garbled one is named here rather than deep inside it
    for name in (CONFIG_FILE,) + TOKENIZER_JSON:
        if (path / name).is_file():
            _read_json(path / name)
    try:
        # Explicit, never None: an OpenVLA folder's config.json names remote classes
        # (auto_map), and with the flag unset transformers would prompt on stdin.
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - the Rust tokenizer raises plain Exception
        raise PolicyFolderError(f'{path}: the tokenizer files ({", ".join(TOKENIZER_JSON)}) '
                                f'cannot be loaded: {type(exc).__name__}: {exc}') from exc


def _prismatic(path: Path, device, dtype) -> PrismaticVLA:
    """Build the backbone; a config.json lacking a field, or of a wrong type, is named."""
    if (path / CONFIG_FILE).is_file():
        _read_json(path / CONFIG_FILE)
    try:
        return PrismaticVLA.from_pretrained(path, device, dtype)
    except (KeyError, TypeError, AttributeError) as exc:
        raise PolicyFolderError(f'{path / CONFIG_FILE}: missing or malformed field: '
                                f'{type(exc).__name__}: {exc}') from exc


def _load_openvla(path: Path, device, dtype, overrides: dict, trust_remote_code: bool,
                  statistics: dict | None) -> TokenVLAPolicy:
    tokenizer = _tokenizer(path, trust_remote_code)
    backbone = _prismatic(path, device, dtype)
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
    file = path / POLICY_FILE
    meta = _read_json(file)
    if meta.get('format') != FORMAT or meta.get('format_version') != FORMAT_VERSION:
        raise PolicyFolderError(f'{file}: unsupported format {meta.get("format")!r} '
                                f'version {meta.get("format_version")!r}')
    try:
        spec = PolicySpec.from_dict(_field(meta, file, 'spec', dict))
    except (TypeError, ValueError) as exc:
        raise PolicyFolderError(f"{file}: field 'spec': {exc}") from None
    _check_spec(spec, file)
    spec = spec.with_overrides(overrides)
    # Everything the file records is checked before the (slow) model is built.
    state_names = lora = version = width = None
    if meta.get('proprio') is not None:
        state_names = _field(meta, file, 'proprio.state_names', list)
    if meta.get('lora') is not None:
        try:
            lora = LoraSettings(**_field(meta, file, 'lora', dict))
        except (TypeError, ValueError) as exc:
            raise PolicyFolderError(f"{file}: field 'lora': {exc}") from None
        if isinstance(lora.rank, bool) or not isinstance(lora.rank, int) or lora.rank < 1:
            raise PolicyFolderError(f"{file}: field 'lora.rank' = {lora.rank!r} must be an "
                                    'integer >= 1')
        if lora.alpha is not None and (isinstance(lora.alpha, bool) or not isinstance(
                lora.alpha, (int, float)) or not 0 < lora.alpha < float('inf')):
            raise PolicyFolderError(f"{file}: field 'lora.alpha' = {lora.alpha!r} must be a "
                                    'finite number > 0 (or null)')
        version = PolicyVersion(_field(meta, file, 'version.version', int),
                                _field(meta, file, 'version.sha256', str))
    if meta.get('value_head') is not None:
        width = _field(meta, file, 'value_head.width', int)
        if width < 1:
            raise PolicyFolderError(f"{file}: field 'value_head.width' = {width} must be >= 1")
    if spec.backend == 'prismatic':
        tokenizer = _tokenizer(path, trust_remote_code)
        backbone = _prismatic(path, device, dtype)
        policy = TokenVLAPolicy(backbone, tokenizer, spec,
                                _statistics(path, None, statistics))
    else:
        policy = load_hf_vlm_policy(path, device, dtype, spec.to_dict(), trust_remote_code,
                                    statistics=_statistics(path, None, statistics))
    if state_names is not None:  # before the adapter, which freezes it
        encoder = policy.add_proprio(state_names)
        _load_module(encoder, path / PROPRIO_FILE)
    if lora is not None:
        policy.add_lora(lora)
        if with_adapter:
            policy.load_adapter(str(path / ADAPTER_DIR), expected=version)
    if width is not None:
        _load_module(policy.add_value_head(width), path / VALUE_HEAD_FILE)
    return policy


def _check_spec(spec: PolicySpec, file: Path) -> None:
    """Check the types and ranges of a stored spec (a wrong one fails late, or runs wrongly)."""
    def bad(name: str, value, why: str):
        raise PolicyFolderError(f"{file}: field 'spec.{name}' = {value!r} {why}")

    def integer(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)
    if not isinstance(spec.cameras, list) or not spec.cameras \
            or not all(isinstance(c, str) and c for c in spec.cameras):
        bad('cameras', spec.cameras, 'must be a non-empty list of camera names')
    if spec.backend not in BACKENDS:
        bad('backend', spec.backend, f'must be one of {list(BACKENDS)}')
    if not integer(spec.action_vocab_size) or spec.action_vocab_size < 256:
        bad('action_vocab_size', spec.action_vocab_size, 'must be an integer >= 256')
    if not isinstance(spec.prompt_template, str):
        bad('prompt_template', spec.prompt_template, 'must be text')
    if not isinstance(spec.prompt_suffix_ids, list) \
            or not all(integer(i) and i >= 0 for i in spec.prompt_suffix_ids):
        bad('prompt_suffix_ids', spec.prompt_suffix_ids, 'must be a list of token ids')
    if spec.unnorm_key is not None and not isinstance(spec.unnorm_key, str):
        bad('unnorm_key', spec.unnorm_key, 'must be text or null')
    if not isinstance(spec.binarize_gripper, bool):
        bad('binarize_gripper', spec.binarize_gripper, 'must be true or false')
    pre = spec.preprocessing
    if not integer(pre.image_size) or not 8 <= pre.image_size <= 4096:
        bad('preprocessing.image_size', pre.image_size, 'must be an integer in [8, 4096]')
    if not integer(pre.jpeg_quality) or not 1 <= pre.jpeg_quality <= 100:
        bad('preprocessing.jpeg_quality', pre.jpeg_quality, 'must be an integer in [1, 100]')
    for flag in ('jpeg', 'center_crop'):
        if not isinstance(getattr(pre, flag), bool):
            bad(f'preprocessing.{flag}', getattr(pre, flag), 'must be true or false')
    if isinstance(pre.crop_area, bool) or not isinstance(pre.crop_area, (int, float)) \
            or not 0 < pre.crop_area <= 1:
        bad('preprocessing.crop_area', pre.crop_area, 'must be a number in (0, 1]')


def _load_module(module: torch.nn.Module, file: Path) -> None:
    """Load a module's weights from a safetensors file, refusing any that do not fit."""
    tensors = read_tensors(file)
    check_fits(file, tensors, module.state_dict())
    module.load_state_dict(tensors)
