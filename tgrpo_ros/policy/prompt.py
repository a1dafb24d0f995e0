# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
r"""The prompt the policy sees, one implementation for training, simulation, robots and bags.

OpenVLA's prompt (arXiv 2406.09246):
``"In: What action should the robot take to {instruction.lower()}?\nOut:"``.
OpenVLA's Llama tokenizer then gets token 29871 (the bare SentencePiece space) appended when the
tokenised prompt does not already end with it; that is a property of the tokenizer, so it is set
per model as ``suffix_ids``.
"""

from __future__ import annotations

from typing import Sequence

OPENVLA_TEMPLATE = 'In: What action should the robot take to {instruction}?\nOut:'
LLAMA2_EMPTY_TOKEN = 29871


def build_prompt(instruction: str, template: str = OPENVLA_TEMPLATE) -> str:
    """Format the lower-cased instruction into the prompt, exactly as OpenVLA does."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError('the instruction is empty')
    return template.format(instruction=instruction.lower())


def tokenize_prompt(tokenizer, prompt: str, suffix_ids: Sequence[int] = ()) -> list[int]:
    """Token ids of ``prompt`` with the tokenizer's BOS first and ``suffix_ids`` ensured last."""
    ids = list(tokenizer(prompt, add_special_tokens=True)['input_ids'])
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    suffix = list(suffix_ids)
    if suffix and ids[-len(suffix):] != suffix:
        ids += suffix
    return ids
