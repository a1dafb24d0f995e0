# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""LoRA through one entry point (peft), and versioned adapter files (``tgrpo_ros.contract``).

Defaults follow OpenVLA's LoRA fine-tuning (arXiv 2406.09246): rank 32, alpha min(rank, 16),
dropout 0 (dropout > 0 would make the update's log-probs differ from the sampler's), all linear
layers except the output head. An adapter folder holds ``adapter_model.safetensors``,
``adapter_config.json`` (peft's LoraConfig) and ``tgrpo_adapter.json`` (version, SHA-256 of
the weights file, rank, alpha). It is written to a temporary sibling folder and renamed into
place, so a reader never sees a half-written adapter.

The weights file's own header records the LoRA rank and alpha too: the output is
W x + (alpha / rank) B A x, so the same tensors under another alpha are another policy, and
recording alpha inside the hashed file makes it part of the version's SHA-256. Loading refuses
an adapter whose rank or alpha differs from the model's (``check_adapter_scaling``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
import json
import os
from pathlib import Path
import shutil
import tempfile

from peft import get_peft_model, LoraConfig, PeftModel
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import safe_open
from safetensors.torch import save_file
import torch
from torch import nn

from tgrpo_ros.policy.tensor_file import read_tensors
from tgrpo_ros.versioning import ADAPTER_WEIGHTS_FILE, PolicyVersion, sha256_file

ADAPTER_CONFIG_FILE = 'adapter_config.json'
ADAPTER_VERSION_FILE = 'tgrpo_adapter.json'
HEADER_KEY = 'tgrpo_adapter'  # the weights file's header entry: JSON of version, rank, alpha


@dataclass
class LoraSettings:
    """LoRA hyper-parameters.

    rank: r. alpha: scaling numerator (None = min(rank, 16), OpenVLA's choice).
    target_modules: 'all-linear' (every nn.Linear except the LM head) or module names/suffixes.
    exclude: module-name substrings never adapted under 'all-linear'.
    dropout: keep 0 for RL (see module docstring).
    """

    rank: int = 32
    alpha: float | None = None
    target_modules: str | list[str] = 'all-linear'
    exclude: list[str] = field(default_factory=lambda: ['lm_head', 'value_head'])
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def linear_module_names(model: nn.Module, exclude: list[str]) -> list[str]:
    """Full names of every nn.Linear in ``model`` whose name contains none of ``exclude``."""
    return sorted(n for n, m in model.named_modules()
                  if isinstance(m, nn.Linear) and not any(e in n for e in exclude))


def base_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with LoRA tensors dropped and peft's ``base_layer`` renamed back."""
    out = {}
    for k, v in module.state_dict().items():
        if 'lora_' in k:
            continue
        out[k.replace('.base_layer.', '.')] = v.detach().contiguous().cpu()
    return out


def apply_lora(model: nn.Module, settings: LoraSettings) -> PeftModel:
    """Wrap ``model`` with a fresh LoRA adapter (B = 0, so outputs are unchanged at first)."""
    if settings.rank < 1:
        raise ValueError('LoRA rank must be >= 1')
    targets = (linear_module_names(model, settings.exclude)
               if settings.target_modules == 'all-linear' else list(settings.target_modules))
    if not targets:
        raise ValueError('no LoRA target modules found')
    alpha = settings.alpha if settings.alpha is not None else min(settings.rank, 16)
    config = LoraConfig(r=settings.rank, lora_alpha=alpha, lora_dropout=settings.dropout,
                        target_modules=targets, bias='none')
    return get_peft_model(model, config)


def adapter_state(peft_model: PeftModel) -> dict[str, torch.Tensor]:
    return get_peft_model_state_dict(peft_model)


def copy_adapter(peft_model: PeftModel, source: str, target: str) -> None:
    """Set adapter ``target`` to a copy of adapter ``source``'s weights (same LoraConfig).

    ``target`` is created on first use, marked for inference (peft freezes it); the active
    adapter stays what it was. Callers that care which weights train check requires_grad.
    """
    state = {k: v.detach().clone()
             for k, v in get_peft_model_state_dict(peft_model, adapter_name=source).items()}
    if target not in peft_model.peft_config:
        config = replace(peft_model.peft_config[source], inference_mode=True)
        peft_model.add_adapter(target, config)
    result = set_peft_model_state_dict(peft_model, state, adapter_name=target)
    if result.unexpected_keys:  # peft loads non-strictly; a copy must land whole
        raise RuntimeError(f'adapter {target!r} did not take {len(result.unexpected_keys)} '
                           f'tensors of {source!r} (e.g. {result.unexpected_keys[:3]})')


def adapter_scaling(peft_model: PeftModel) -> tuple[int, float]:
    """Return (rank, alpha) of the model's trained ('default') adapter."""
    config = peft_model.peft_config['default']
    return int(config.r), float(config.lora_alpha)


def recorded_scaling(folder: str | Path) -> tuple[int, float]:
    """Return (rank, alpha) an adapter folder was trained with.

    Read from the weights file's header (written by ``save_adapter_folder``), else from peft's
    ``adapter_config.json`` (adapters saved before the header carried them); raises when
    neither says, since such an adapter's scale cannot be checked.
    """
    folder = Path(folder)
    with safe_open(str(folder / ADAPTER_WEIGHTS_FILE), framework='pt') as f:
        meta = json.loads((f.metadata() or {}).get(HEADER_KEY, '{}'))
    if 'lora_rank' in meta and 'lora_alpha' in meta:
        return int(meta['lora_rank']), float(meta['lora_alpha'])
    if (folder / ADAPTER_CONFIG_FILE).is_file():
        with open(folder / ADAPTER_CONFIG_FILE) as f:
            cfg = json.load(f)
        if 'r' in cfg and 'lora_alpha' in cfg:
            return int(cfg['r']), float(cfg['lora_alpha'])
    raise ValueError(f'adapter {folder} records no LoRA rank and alpha (neither the header of '
                     f'{ADAPTER_WEIGHTS_FILE} nor {ADAPTER_CONFIG_FILE}); its scale alpha / rank '
                     'cannot be checked')


def check_adapter_scaling(peft_model: PeftModel, folder: str | Path) -> None:
    """Raise unless the folder's adapter was trained with the model's LoRA rank and alpha."""
    rank, alpha = recorded_scaling(folder)
    model_rank, model_alpha = adapter_scaling(peft_model)
    if alpha != model_alpha or rank != model_rank:
        raise ValueError(f'adapter {folder} was trained with LoRA rank {rank}, alpha {alpha:g}; '
                         f'this model has rank {model_rank}, alpha {model_alpha:g}: loaded, it '
                         'would act as another policy (set policy.lora_rank / policy.lora_alpha '
                         "to the adapter's)")


def save_adapter_folder(peft_model: PeftModel, folder: str | Path, version: int) -> PolicyVersion:
    """Write the adapter atomically (temp folder + rename) and return its PolicyVersion."""
    folder = Path(folder).resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{folder.name}.tmp-', dir=folder.parent))
    try:
        state = {k: v.detach().to('cpu').contiguous()
                 for k, v in adapter_state(peft_model).items()}
        rank, alpha = adapter_scaling(peft_model)
        # One header key holding sorted JSON: safetensors writes several keys in hash-map
        # order, which varies between calls, and the same weights must hash the same.
        header = json.dumps({'version': int(version), 'lora_rank': rank, 'lora_alpha': alpha},
                            sort_keys=True)
        save_file(state, str(tmp / ADAPTER_WEIGHTS_FILE), metadata={HEADER_KEY: header})
        sha = sha256_file(tmp / ADAPTER_WEIGHTS_FILE)
        cfg = peft_model.peft_config['default'].to_dict()
        cfg = {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
        with open(tmp / ADAPTER_CONFIG_FILE, 'w') as f:
            json.dump(cfg, f, indent=2, default=str)
        with open(tmp / ADAPTER_VERSION_FILE, 'w') as f:
            json.dump({'version': int(version), 'sha256': sha, 'lora_rank': rank,
                       'lora_alpha': alpha}, f)
        for p in tmp.iterdir():
            with open(p, 'rb') as fh:
                os.fsync(fh.fileno())
        old = None
        if folder.exists():
            old = folder.with_name(f'.{folder.name}.old-{os.getpid()}')
            os.rename(folder, old)
        os.rename(tmp, folder)
        # the rename is an entry of the parent folder: fsync it so a power cut keeps it
        fd = os.open(folder.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PolicyVersion(int(version), sha)


def read_adapter_folder(folder: str | Path, expected: PolicyVersion | None = None
                        ) -> tuple[dict[str, torch.Tensor], PolicyVersion]:
    """Read and verify an adapter folder without touching any model."""
    folder = Path(folder)
    weights = folder / ADAPTER_WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f'no {ADAPTER_WEIGHTS_FILE} in adapter folder {folder}')
    sha = sha256_file(weights)
    version = 0
    if (folder / ADAPTER_VERSION_FILE).is_file():
        try:
            meta = json.loads((folder / ADAPTER_VERSION_FILE).read_text(encoding='utf-8'))
            version = int(meta.get('version', 0))
        except (ValueError, AttributeError, TypeError) as exc:  # garbled: say which file
            raise ValueError(f'{folder / ADAPTER_VERSION_FILE}: not a version record '
                             f'({{"version": N, "sha256": ...}}): {exc}') from None
        if meta.get('sha256') and meta['sha256'] != sha:
            raise ValueError(f'{weights}: SHA-256 {sha} does not match the recorded '
                             f'{meta["sha256"]} (file changed or corrupted)')
    if expected is not None:
        if expected.sha256 != sha:
            raise ValueError(f'{weights}: SHA-256 {sha} does not match the announced '
                             f'{expected.sha256}')
        version = expected.version
    return read_tensors(weights), PolicyVersion(version, sha)


def load_adapter_state(peft_model: PeftModel, state: dict[str, torch.Tensor]) -> None:
    """Copy adapter tensors in after checking names and shapes; raises before any change."""
    current = adapter_state(peft_model)
    missing = sorted(set(current) - set(state))
    extra = sorted(set(state) - set(current))
    if missing or extra:
        raise ValueError(f'adapter does not fit this model: {len(missing)} missing '
                         f'(e.g. {missing[:3]}), {len(extra)} unexpected (e.g. {extra[:3]})')
    for k, v in state.items():
        if tuple(v.shape) != tuple(current[k].shape):
            raise ValueError(f'adapter tensor {k} has shape {tuple(v.shape)}, model has '
                             f'{tuple(current[k].shape)}')
        if not v.is_floating_point():  # would be cast to float silently
            raise ValueError(f'adapter tensor {k} has dtype {v.dtype}, model has '
                             f'{current[k].dtype}')
        if not torch.isfinite(v).all():
            raise ValueError(f'adapter tensor {k} contains NaN or infinite values')
    set_peft_model_state_dict(peft_model, state)
