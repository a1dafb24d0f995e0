# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The VLA policy: batched action sampling with log-probs, teacher forcing, LoRA, value head.

One class serves every backend (``backbone.py``). Sequence layout of row i after left padding:
``[pad..pad | prefix_i ([state token,] BOS, image patches, prompt) | a_1 .. a_7]`` (the state
token only for a policy that reads proprioception, ``proprio.py``). Sampling runs the prefix
once, then 7 single-token steps with a KV cache; the next-token distribution is the softmax
over the 256 action ids only (``tgrpo_ros.contract``), divided by the temperature. Teacher
forcing feeds prefix + a_1..a_6 in one pass and reads the 7 positions that predict a_1..a_7, so
both paths compute the same numbers (they agree to ~1e-6 in float32).

No train/eval switch is ever flipped here: gradients, the adapter and the temperature are
arguments of each call.

The reference policy of the KL term is the policy RL STARTS from: ``freeze_reference`` copies
the adapter's weights at that moment into a second peft adapter (``REFERENCE_ADAPTER``) that
is never trained, and ``evaluate(..., reference=True)`` runs with it active. Disabling the
adapter instead would give the model before any LoRA fine-tuning (a LoRA SFT start would be
pulled back to its pre-SFT base); with a fresh adapter (B = 0) the two are the same.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from tgrpo_ros.observation import Observation
from tgrpo_ros.policy.action_tokenizer import ActionTokenizer
from tgrpo_ros.policy.backbone import left_pad, positions_from_mask, VLABackbone
from tgrpo_ros.contract import ACTION_DIM
from tgrpo_ros.policy.base import ActionSample, VLAPolicy
from tgrpo_ros.policy.lora import (adapter_state, apply_lora, check_adapter_scaling,
                                   copy_adapter, load_adapter_state, LoraSettings,
                                   read_adapter_folder, save_adapter_folder)
from tgrpo_ros.policy.normalization import ActionNormalizer, select_statistics
from tgrpo_ros.policy.preprocessing import ImagePreprocessing, images_to_tensor
from tgrpo_ros.policy.prompt import build_prompt, OPENVLA_TEMPLATE, tokenize_prompt
from tgrpo_ros.policy.proprio import ProprioEncoder
from tgrpo_ros.policy.value_head import ValueHead
from tgrpo_ros.versioning import PolicyVersion

TRAINED_ADAPTER = 'default'      # peft's name of the adapter that is trained and saved
REFERENCE_ADAPTER = 'reference'  # the frozen start adapter (module docstring)


@dataclass
class PolicySpec:
    """Everything besides weights that fixes how observations become tokens and back.

    cameras: camera names the model reads, in order (OpenVLA LIBERO: ['agentview']).
    action_vocab_size: OpenVLA's de-tokenisation vocabulary (action ids are its last 256).
    unnorm_key: key into the dataset statistics (None = the only one).
    gripper / binarize_gripper: see normalization.py.
    """

    cameras: list[str] = field(default_factory=lambda: ['agentview'])
    preprocessing: ImagePreprocessing = field(default_factory=ImagePreprocessing)
    prompt_template: str = OPENVLA_TEMPLATE
    prompt_suffix_ids: list[int] = field(default_factory=list)
    action_vocab_size: int = 32000
    unnorm_key: str | None = None
    gripper: str = 'openvla'
    binarize_gripper: bool = True
    backend: str = 'prismatic'

    def to_dict(self) -> dict:
        d = asdict(self)
        d['preprocessing'] = self.preprocessing.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PolicySpec:
        d = dict(d)
        try:
            d['preprocessing'] = ImagePreprocessing(**d.get('preprocessing', {}))
        except ValueError as exc:  # its checks name the field; say where it sits
            raise ValueError(f'spec.preprocessing.{exc}') from None
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f'unknown policy spec fields {unknown}')
        return cls(**d)

    def with_overrides(self, overrides: dict) -> PolicySpec:
        """Return a copy with the given fields replaced (preprocessing as object or dict)."""
        d = self.to_dict()
        overrides = dict(overrides)
        if isinstance(overrides.get('preprocessing'), ImagePreprocessing):
            overrides['preprocessing'] = overrides['preprocessing'].to_dict()
        d.update(overrides)
        return PolicySpec.from_dict(d)


class TokenVLAPolicy(VLAPolicy):
    """A VLA whose actions are 7 OpenVLA action tokens; implements ``VLAPolicy``.

    Build one with ``build_tiny_policy`` (tiny.py) or ``load_policy`` (checkpoint.py).
    """

    def __init__(self, backbone: VLABackbone, tokenizer, spec: PolicySpec, statistics: dict,
                 ) -> None:
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.spec = spec
        self.statistics = statistics
        self.unnorm_key, action_stats = select_statistics(statistics, spec.unnorm_key)
        self.normalizer = ActionNormalizer.from_statistics(
            action_stats, gripper=spec.gripper, binarize_gripper=spec.binarize_gripper)
        if self.normalizer.dim != ACTION_DIM:
            raise ValueError(f'statistics {self.unnorm_key!r} have {self.normalizer.dim} action '
                             f'dims, the policy produces {ACTION_DIM}')
        self.action_tokenizer = ActionTokenizer(spec.action_vocab_size)
        self.peft = None
        self.lora_settings: LoraSettings | None = None
        self.value_head: ValueHead | None = None
        self.proprio: ProprioEncoder | None = None
        self._version = PolicyVersion()
        p = next(backbone.parameters())
        self.device, self.dtype = p.device, p.dtype
        self._action_ids = self.action_tokenizer.action_token_ids.to(self.device)

    # ---- VLAPolicy ---------------------------------------------------------------------------
    @property
    def version(self) -> PolicyVersion:
        return self._version

    def _numerics(self):
        # Trained weights can produce subnormal activations, which x86 CPUs compute ~50x slower
        # (a fine-tuned tiny model sampled in 1.4 s instead of 0.03 s). Flushing them to zero
        # changes nothing above 1e-38 and applies to sampler and learner alike. It is processor
        # state, so it is set only for the duration of our forward passes, not for the process.
        return _flush_denormal() if self.device.type == 'cpu' else nullcontext()

    def sample(self, batch: Sequence[Observation], temperature: float = 1.0,
               generator: torch.Generator | None = None, *,
               uniforms: torch.Tensor | None = None) -> ActionSample:
        """Sample one action per observation (see VLAPolicy.sample).

        generator: a CPU ``torch.Generator``; row i uses the i-th row of one (B, 7) uniform
        draw (or of ``uniforms``), so its tokens do not depend on the other rows. temperature 0
        is greedy.
        """
        _check_temperature(temperature)
        greedy = temperature == 0
        temp = 1.0 if greedy else float(temperature)
        if uniforms is None:
            uniforms = torch.rand((len(batch), ACTION_DIM), generator=generator,
                                  dtype=torch.float64)
        elif tuple(uniforms.shape) != (len(batch), ACTION_DIM):
            raise ValueError(f'uniforms must be ({len(batch)}, {ACTION_DIM}), got '
                             f'{tuple(uniforms.shape)}')
        with torch.no_grad(), self._numerics():
            embeds, mask = self._prefix(batch)
            positions = positions_from_mask(mask)
            hidden, cache = self.backbone.decoder(embeds, mask, positions, use_cache=True)
            h = hidden[:, -1:]
            cols, logps = [], []
            for k in range(ACTION_DIM):
                logp = self._restricted_logprobs(h, temp)[:, 0]                  # (B, 256)
                col = (logp.argmax(-1) if greedy
                       else _inverse_cdf(logp, uniforms[:, k].to(logp.device)))
                cols.append(col)
                logps.append(logp.gather(1, col[:, None])[:, 0])
                if k + 1 < ACTION_DIM:
                    step = self.backbone.embed_tokens(self._action_ids[col][:, None])
                    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
                    positions = positions[:, -1:] + 1
                    h, cache = self.backbone.decoder(step, mask, positions, cache, use_cache=True)
        token_ids = self._action_ids[torch.stack(cols, 1)].cpu()
        actions = self.normalizer.to_env(self.action_tokenizer.decode(token_ids))
        return ActionSample(actions=actions, token_ids=token_ids,
                            logprobs=torch.stack(logps, 1).float().cpu(), version=self._version)

    def token_logprobs(self, batch: Sequence[Observation], token_ids: torch.Tensor,
                       temperature: float = 1.0, *, grad: bool, use_adapter: bool = True,
                       reference: bool = False) -> torch.Tensor:
        return self.evaluate(batch, token_ids, temperature, grad=grad,
                             use_adapter=use_adapter, reference=reference)[0]

    def evaluate(self, batch: Sequence[Observation], token_ids: torch.Tensor,
                 temperature: float = 1.0, *, grad: bool, use_adapter: bool = True,
                 reference: bool = False,
                 values: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced (B, 7) float32 log-probs, and (B,) values if ``values`` (one pass).

        Results are on the policy's device; with grad=True they carry the graph. The value
        head reads the shared trunk, so a value loss also trains the LoRA weights (the usual
        shared-trunk PPO critic). use_adapter=False: the base model, adapter disabled;
        reference=True: the frozen start policy (``freeze_reference``), never with grad.
        """
        _check_temperature(temperature)
        if reference and (grad or not use_adapter):
            raise ValueError('the reference policy is read without gradients and with its '
                             'adapter (reference=True needs grad=False, use_adapter=True)')
        token_ids = torch.as_tensor(token_ids)
        if token_ids.shape != (len(batch), ACTION_DIM):
            raise ValueError(f'token_ids must be ({len(batch)}, {ACTION_DIM}), got '
                             f'{tuple(token_ids.shape)}')
        cols = self.action_tokenizer.ids_to_columns(token_ids).to(self.device)
        temp = 1.0 if temperature == 0 else float(temperature)
        if values and self.value_head is None:
            raise RuntimeError('no value head: call add_value_head() first')
        if reference:
            adapters = self._reference_adapter()
        elif not use_adapter and self.peft is not None:
            adapters = self.peft.disable_adapter()
        else:
            adapters = nullcontext()
        with (torch.enable_grad() if grad else torch.no_grad()), adapters, self._numerics():
            embeds, mask = self._prefix(batch)
            length = embeds.shape[1]
            acts = self.backbone.embed_tokens(token_ids[:, :-1].to(self.device))
            full = torch.cat([embeds, acts.to(embeds.dtype)], dim=1)
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], ACTION_DIM - 1))], dim=1)
            hidden, _ = self.backbone.decoder(full, mask, positions_from_mask(mask))
            h = hidden[:, length - 1:]                                      # (B, 7, D)
            logp = self._restricted_logprobs(h, temp).gather(2, cols[..., None])[..., 0]
            v = self.value_head(hidden[:, length - 1]) if values else None
        return logp, v

    def trainable_parameters(self) -> list[nn.Parameter]:
        """LoRA weights (or every base weight when no adapter is attached) + value head."""
        params = [p for p in self.backbone.parameters() if p.requires_grad]
        if self.proprio is not None:
            params += [p for p in self.proprio.parameters() if p.requires_grad]
        if self.value_head is not None:
            params += list(self.value_head.parameters())
        return params

    def save_adapter(self, folder: str, version: int) -> PolicyVersion:
        """Write the adapter; the in-memory weights now ARE that version, so serve it."""
        if self.peft is None:
            raise RuntimeError('no LoRA adapter attached: call add_lora() first')
        self._version = save_adapter_folder(self.peft, folder, version)
        return self._version

    def load_adapter(self, folder: str, expected: PolicyVersion | None = None) -> PolicyVersion:
        if self.peft is None:
            raise RuntimeError('no LoRA adapter attached: call add_lora() first')
        state, version = read_adapter_folder(folder, expected)
        check_adapter_scaling(self.peft, folder)
        backup = {k: v.clone() for k, v in adapter_state(self.peft).items()}
        try:
            load_adapter_state(self.peft, state)
        except BaseException:
            load_adapter_state(self.peft, backup)
            raise
        self._version = version
        return version

    # ---- beyond the interface ----------------------------------------------------------------
    def add_lora(self, settings: LoraSettings | None = None) -> None:
        """Attach a fresh LoRA adapter (outputs unchanged until it is trained)."""
        if self.peft is not None:
            raise RuntimeError('a LoRA adapter is already attached')
        self.lora_settings = settings or LoraSettings()
        self.peft = apply_lora(self.backbone, self.lora_settings)
        self.peft.to(self.device)
        if self.proprio is not None:  # part of the base model: frozen like it
            self.proprio.requires_grad_(False)

    def freeze_reference(self) -> None:
        """Keep the adapter's current weights, frozen, as the reference policy.

        Called once where RL starts (``TGRPOTrainer``), so the KL term pulls toward the start
        policy; calling it again moves the reference to the current weights. The copy is a
        second peft adapter of the same rank (LoRA-sized, not a copy of the model); it is
        never trainable, never saved with the adapter and dropped by ``merge_adapter``.
        """
        if self.peft is None:
            raise RuntimeError('no LoRA adapter attached: the reference is kept as a frozen '
                               'copy of the adapter, call add_lora() first')
        with self._keep_requires_grad():
            copy_adapter(self.peft, TRAINED_ADAPTER, REFERENCE_ADAPTER)
        for name, p in self.backbone.named_parameters():
            if f'.{REFERENCE_ADAPTER}.' in name:
                p.requires_grad_(False)

    @property
    def has_reference(self) -> bool:
        """Whether ``freeze_reference`` kept a reference adapter."""
        return self.peft is not None and REFERENCE_ADAPTER in self.peft.peft_config

    def merge_adapter(self) -> None:
        """Fold the adapter into the base weights for deployment (no adapter afterwards)."""
        if self.peft is None:
            raise RuntimeError('no LoRA adapter attached')
        # Merges the active (trained) adapter only; the reference adapter is unloaded with it.
        self.backbone = self.peft.merge_and_unload()
        self.peft = None

    def add_value_head(self, width: int = 256) -> ValueHead:
        self.value_head = ValueHead(self.backbone.hidden_size, width).to(self.device)
        return self.value_head

    def add_proprio(self, state_names: Sequence[str], mean: Sequence[float] | None = None,
                    std: Sequence[float] | None = None) -> ProprioEncoder:
        """Read the named ``Observation.state`` entries as one more prefix token (proprio.py)."""
        if self.proprio is not None:
            raise RuntimeError(f'the policy already reads state {self.proprio.state_names}')
        if self.peft is not None:
            raise RuntimeError('add proprioception before the LoRA adapter (it is base model)')
        self.proprio = ProprioEncoder(state_names, self.backbone.hidden_size, mean, std
                                      ).to(self.device)
        return self.proprio

    def actions_to_tokens(self, env_actions: np.ndarray) -> torch.Tensor:
        """(B, 7) environment-space actions -> (B, 7) int64 token ids (for demonstrations)."""
        normalized = self.normalizer.from_env(env_actions)
        return torch.from_numpy(self.action_tokenizer.encode(normalized))

    def prompt_ids(self, instruction: str) -> list[int]:
        prompt = build_prompt(instruction, self.spec.prompt_template)
        return tokenize_prompt(self.tokenizer, prompt, self.spec.prompt_suffix_ids)

    # ---- internals ---------------------------------------------------------------------------
    @contextmanager
    def _keep_requires_grad(self):
        """Restore every backbone parameter's requires_grad after the block.

        peft's add_adapter/set_adapter set requires_grad on the adapters they touch; which
        weights the optimiser trains must not change as a side effect.
        """
        flags = [(p, p.requires_grad) for p in self.backbone.parameters()]
        try:
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)

    @contextmanager
    def _reference_adapter(self):
        """Run the block with the frozen reference adapter active instead of the trained one."""
        if not self.has_reference:
            raise RuntimeError('no reference policy kept: call freeze_reference() where RL '
                               'starts')
        with self._keep_requires_grad():
            self.peft.set_adapter(REFERENCE_ADAPTER, inference_mode=True)
            try:
                yield
            finally:
                self.peft.set_adapter(TRAINED_ADAPTER)

    def _prefix(self, batch: Sequence[Observation]) -> tuple[torch.Tensor, torch.Tensor]:
        if len(batch) == 0:
            raise ValueError('empty batch')
        ids = [self.prompt_ids(o.instruction) for o in batch]
        pixels = images_to_tensor([o.images for o in batch], self.spec.cameras,
                                  self.spec.preprocessing).to(self.device)
        rows = self.backbone.prefix_embeddings(pixels, ids)
        if self.proprio is not None:
            states = self.proprio.select([o.state for o in batch],
                                         [o.state_names for o in batch])
            tokens = self.proprio(torch.from_numpy(states).to(self.device))
            rows = [torch.cat([tokens[i].to(r.dtype), r]) for i, r in enumerate(rows)]
        embeds, mask = left_pad(rows)
        return embeds, mask

    def _restricted_logprobs(self, hidden: torch.Tensor, temperature: float) -> torch.Tensor:
        """(B, k, D) -> (B, k, 256) float32 log-softmax over the action ids at ``temperature``."""
        logits = self.backbone.logits(hidden)[..., self._action_ids].float()
        return torch.log_softmax(logits / temperature, dim=-1)


def _check_temperature(temperature: float) -> None:
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f'temperature must be finite and >= 0, got {temperature}')


def _inverse_cdf(logp: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Sample columns of (B, 256) log-probs with (B,) uniforms; float64 for a stable CDF."""
    cdf = logp.double().exp().cumsum(-1)
    col = torch.searchsorted(cdf, (u.double() * cdf[:, -1])[:, None])[:, 0]
    return col.clamp(max=logp.shape[-1] - 1)


@contextmanager
def _flush_denormal():
    """Flush subnormal floats to zero inside the block (torch's default, off, restored after)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
