# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Action tokenizer, normalisation, gripper, prompt and preprocessing against hand-worked values.

Hand values use OpenVLA's formula with vocab_size 32000: bins = linspace(-1, 1, 256) (step 2/255),
id = 32000 - digitize(a, bins), decode index = clip(32000 - id - 1, 0, 254) into the bin centres
-1 + (k + 0.5) * 2/255.
"""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from tgrpo_ros.policy.action_tokenizer import ActionTokenizer
from tgrpo_ros.policy.normalization import (ActionNormalizer, compute_dataset_statistics,
                                            read_statistics_file, select_statistics)
from tgrpo_ros.policy.preprocessing import (ImagePreprocessing, images_to_tensor,
                                            preprocess_image)
from tgrpo_ros.policy.prompt import build_prompt, tokenize_prompt
from tgrpo_ros.policy.tiny import build_tiny_tokenizer

STEP = 2.0 / 255.0


def centre(k):
    return -1.0 + (k + 0.5) * STEP


def test_token_ids_by_hand():
    tok = ActionTokenizer(32000)
    assert tok.first_id == 31744
    assert tok.encode(np.array([-1.0]))[0] == 31999           # digitize(-1) = 1
    assert tok.encode(np.array([1.0]))[0] == 31744            # digitize(1) = 256
    assert tok.encode(np.array([0.0]))[0] == 31872            # 0 lies in [bins[127], bins[128])
    assert tok.encode(np.array([-0.99]))[0] == 31998          # bins[1] = -0.99216 <= -0.99
    # Exactly on an edge: bins[128] = 1/255 belongs to the bin above it.
    assert tok.encode(np.array([1.0 / 255.0 + 1e-15]))[0] == 31871
    # Out of range values are clipped first.
    assert tok.encode(np.array([1.7, -3.0])).tolist() == [31744, 31999]


def test_decode_by_hand():
    tok = ActionTokenizer(32000)
    assert tok.decode(np.array([31872]))[0] == pytest.approx(0.0, abs=1e-12)
    assert tok.decode(np.array([31999]))[0] == pytest.approx(centre(0))      # -0.99608
    assert tok.decode(np.array([31744]))[0] == pytest.approx(centre(254))    # clipped 255 -> 254
    assert tok.decode(np.array([31998]))[0] == pytest.approx(centre(1))
    assert tok.decode(np.array([31871]))[0] == pytest.approx(centre(128))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=7, max_size=7))
def test_round_trip_within_half_a_bin(values):
    tok = ActionTokenizer(32000)
    a = np.array(values)
    err = np.abs(tok.decode(tok.encode(a)) - a)
    assert (err <= STEP / 2 + 1e-12).all()


def test_nan_and_foreign_ids_are_rejected():
    tok = ActionTokenizer(1024)
    with pytest.raises(ValueError, match='NaN'):
        tok.encode(np.array([0.0, np.nan]))
    import torch
    with pytest.raises(ValueError, match='outside the action range'):
        tok.ids_to_columns(torch.tensor([[767]]))
    assert tok.ids_to_columns(torch.tensor([768, 1023])).tolist() == [0, 255]


def test_bounds_q99_normalisation_by_hand():
    norm = ActionNormalizer(q01=np.array([-0.5] * 6 + [0.0]), q99=np.array([1.5] * 6 + [1.0]),
                            mask=np.array([True] * 6 + [False]), gripper='env',
                            binarize_gripper=False)
    a = np.array([0.5, -0.5, 1.5, 0.0, 1.0, 2.0, 0.3])
    # 2 (a - q01) / (q99 - q01) - 1 = a - 0.5 here; the gripper is untouched; clipped to [-1, 1].
    assert np.allclose(norm.normalize(a), [0.0, -1.0, 1.0, -0.5, 0.5, 1.0, 0.3])
    assert np.allclose(norm.unnormalize(np.array([0.0, -1.0, 1.0, -0.5, 0.5, 1.0, 0.3])),
                       [0.5, -0.5, 1.5, 0.0, 1.0, 1.5, 0.3])


def test_openvla_gripper_both_ways():
    tok = ActionTokenizer(32000)
    norm = ActionNormalizer(q01=-np.ones(7), q99=np.ones(7), mask=np.array([True] * 6 + [False]),
                            gripper='openvla')
    # OpenVLA data: +1 open -> token 31744 -> centre 0.99608 -> 2g-1 > 0 -> sign 1 -> LIBERO -1.
    open_ids = tok.encode(norm.from_env(np.array([0, 0, 0, 0, 0, 0, -1.0])))
    assert open_ids[-1] == 31744
    assert norm.to_env(tok.decode(open_ids))[-1] == -1.0
    # Closed: 0 -> token 31872 -> centre 0.0 -> 2g-1 = -1 -> sign -1 -> LIBERO +1 (close).
    close_ids = tok.encode(norm.from_env(np.array([0, 0, 0, 0, 0, 0, 1.0])))
    assert close_ids[-1] == 31872
    assert norm.to_env(tok.decode(close_ids))[-1] == 1.0
    # A not-quite-closed 0.3 still binarises to close; 0.7 to open.
    assert norm.to_env(np.array([0, 0, 0, 0, 0, 0, 0.3]))[-1] == 1.0
    assert norm.to_env(np.array([0, 0, 0, 0, 0, 0, 0.7]))[-1] == -1.0


def test_compute_statistics_layout_and_values(tmp_path):
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(1001, 7))
    actions[:, 0] = np.linspace(0.0, 10.0, 1001)
    stats = compute_dataset_statistics(actions)
    a = stats['action']
    assert set(a) == {'q01', 'q99', 'mean', 'std', 'min', 'max', 'mask'}
    assert a['q01'][0] == pytest.approx(0.1) and a['q99'][0] == pytest.approx(9.9)
    assert a['mean'][0] == pytest.approx(5.0) and a['max'][0] == pytest.approx(10.0)
    assert a['mask'] == [True] * 6 + [False]
    assert stats['num_transitions'] == 1001
    path = tmp_path / 'dataset_statistics.json'
    path.write_text(json.dumps({'libero_object_no_noops': stats, 'other': stats}))
    key, loaded = select_statistics(read_statistics_file(tmp_path), 'libero_object_no_noops')
    assert key == 'libero_object_no_noops' and loaded['q99'] == a['q99']
    with pytest.raises(KeyError, match='libero_object_no_noops.*other'):
        select_statistics(read_statistics_file(path), 'libero_spatial')
    with pytest.raises(KeyError, match='several datasets'):
        select_statistics(read_statistics_file(path), None)
    with pytest.raises(ValueError, match='NaN'):
        compute_dataset_statistics(np.full((3, 7), np.nan))
    with pytest.raises(FileNotFoundError):
        read_statistics_file(tmp_path / 'missing')


def test_prompt_matches_openvla_format():
    assert build_prompt('Pick up the Milk and place it in the basket') == (
        'In: What action should the robot take to pick up the milk and place it in the basket?'
        '\nOut:')
    with pytest.raises(ValueError, match='empty'):
        build_prompt('  ')
    tok = build_tiny_tokenizer()
    ids = tokenize_prompt(tok, build_prompt('lift the red cube'))
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    with_suffix = tokenize_prompt(tok, build_prompt('lift the red cube'), suffix_ids=[7])
    assert with_suffix == ids + [7]
    # The suffix is not doubled when the prompt already ends with it.
    assert tokenize_prompt(tok, 'a b', suffix_ids=tokenize_prompt(tok, 'a b')[-1:]) == \
        tokenize_prompt(tok, 'a b')


def test_center_crop_removes_the_border_and_resize_sets_size():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:2] = img[-2:] = img[:, :2] = img[:, -2:] = 255   # a 2-pixel white frame
    plain = preprocess_image(img, ImagePreprocessing(image_size=100, jpeg=False,
                                                     center_crop=False))
    cropped = preprocess_image(img, ImagePreprocessing(image_size=100, jpeg=False,
                                                       center_crop=True))
    assert plain.shape == cropped.shape == (100, 100, 3) and plain.dtype == np.float32
    assert plain[0].max() > 0.9                # the frame is still there
    assert cropped.max() < 0.05                # 90% area crop cuts 2.56 px per side
    small = preprocess_image(img, ImagePreprocessing(image_size=32, jpeg=True))
    assert small.shape == (32, 32, 3) and 0.0 <= small.min() and small.max() <= 1.0


def test_camera_and_image_errors_name_the_problem():
    cfg = ImagePreprocessing(image_size=16, jpeg=False, center_crop=False)
    good = np.zeros((20, 20, 3), np.uint8)
    out = images_to_tensor([{'agentview': good, 'wrist': good}], ['wrist', 'agentview'], cfg)
    assert out.shape == (1, 2, 3, 16, 16)
    with pytest.raises(KeyError, match=r"lacks camera\(s\) \['wrist'\]"):
        images_to_tensor([{'agentview': good}], ['agentview', 'wrist'], cfg)
    with pytest.raises(ValueError, match="camera 'agentview'.*shape"):
        images_to_tensor([{'agentview': np.zeros((20, 20), np.uint8)}], ['agentview'], cfg)
    with pytest.raises(ValueError, match='uint8'):
        images_to_tensor([{'agentview': good.astype(np.float32)}], ['agentview'], cfg)
