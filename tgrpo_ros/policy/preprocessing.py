# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Image preprocessing, one code path for training, simulation, robots and bags.

``tgrpo_ros.contract`` ("Images") states what arrives here: upright images, ``rgb8``.

Steps, in order: optional JPEG encode/decode (OpenVLA's training data was JPEG), resize to the
model's input size with ``resize_filter``, optional centre crop keeping ``crop_area`` of the
area followed by a resize back (LIBERO checkpoints were trained with random crops, so they
expect the 90%-area centre crop at test time). Images arrive upright (the LIBERO adapter flips
MuJoCo renders). Per-backbone mean/std normalisation is the model's business, not done here.

The resize filter: OpenVLA's LIBERO evaluation resizes the 256 px render to 224 px with
Lanczos (after the JPEG round trip, before the HF processor), so the processor's own bicubic
resize then has nothing left to do; an image handed straight to OpenVLA's processor is resized
bicubic instead. ``'lanczos'`` reproduces the evaluation, ``'bicubic'`` the processor alone.
The settings ``policy.resize_filter``, ``policy.jpeg_round_trip`` and
``policy.center_crop_area`` override a model's own choices (``with_overrides``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import io
import math
from typing import Mapping, Sequence

import numpy as np
from PIL import Image
import torch

#: PIL filters of the resize to the model's input size (see the module docstring).
RESIZE_FILTERS = ('lanczos', 'bicubic', 'bilinear')
_PIL_FILTERS = {'lanczos': Image.Resampling.LANCZOS, 'bicubic': Image.Resampling.BICUBIC,
                'bilinear': Image.Resampling.BILINEAR}
#: The value of an override that keeps the model's own choice.
MODEL = 'model'
#: JPEG round trip on / off (words YAML does not read as booleans, unlike on/off/yes/no).
JPEG_CHOICES = ('enabled', 'disabled')


@dataclass(frozen=True)
class ImagePreprocessing:
    """How camera images become model input.

    image_size: side of the square model input in pixels.
    jpeg: round-trip through JPEG at ``jpeg_quality`` first.
    center_crop: crop the centre ``crop_area`` fraction of the area, then resize back.
    resize_filter: one of ``RESIZE_FILTERS`` (module docstring).
    """

    image_size: int = 224
    jpeg: bool = True
    jpeg_quality: int = 95
    center_crop: bool = True
    crop_area: float = 0.9
    resize_filter: str = 'lanczos'

    def __post_init__(self):
        if self.resize_filter not in RESIZE_FILTERS:
            raise ValueError(f'resize_filter must be one of {", ".join(RESIZE_FILTERS)}; got '
                             f'{self.resize_filter!r}')
        if not 0 < self.crop_area <= 1:
            raise ValueError(f'crop_area must be in (0, 1]; got {self.crop_area!r}')

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, resize_filter: str = MODEL, jpeg: str = MODEL,
                       crop_area: float = 0.0) -> ImagePreprocessing:
        """Return a copy with the settings' choices applied; ``MODEL`` / 0 keep this one's.

        jpeg: 'enabled' or 'disabled'. crop_area: fraction of the area the centre crop keeps;
        1 = no crop.
        """
        changes: dict = {}
        if resize_filter != MODEL:
            changes['resize_filter'] = resize_filter
        if jpeg != MODEL:
            if jpeg not in JPEG_CHOICES:
                raise ValueError(f"jpeg must be 'model', {' or '.join(map(repr, JPEG_CHOICES))}; "
                                 f'got {jpeg!r}')
            changes['jpeg'] = jpeg == 'enabled'
        if not 0 <= crop_area <= 1:
            raise ValueError(f'crop_area must be in [0, 1] (0 = keep); got {crop_area!r}')
        if crop_area > 0:
            changes['center_crop'] = crop_area < 1.0
            changes['crop_area'] = float(crop_area) if crop_area < 1.0 else self.crop_area
        return replace(self, **changes)


def check_image(name: str, image: np.ndarray) -> np.ndarray:
    """Validate one camera image: (H, W, 3) uint8 with no other layout accepted."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f'camera {name!r}: image must be a numpy array, got {type(image)}')
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f'camera {name!r}: image must be (H, W, 3) RGB, got shape {image.shape}')
    if image.dtype != np.uint8:
        raise ValueError(f'camera {name!r}: image must be uint8, got {image.dtype}')
    return image


def preprocess_image(image: np.ndarray, cfg: ImagePreprocessing,
                     name: str = 'image') -> np.ndarray:
    """(H, W, 3) uint8 -> (image_size, image_size, 3) float32 in [0, 1]."""
    img = Image.fromarray(check_image(name, image))
    if cfg.jpeg:
        buf = io.BytesIO()
        img.save(buf, format='JPEG', quality=cfg.jpeg_quality)
        buf.seek(0)
        img = Image.open(buf).convert('RGB')
    size = cfg.image_size
    img = img.resize((size, size), _PIL_FILTERS[cfg.resize_filter])
    if cfg.center_crop:
        side = math.sqrt(cfg.crop_area) * size
        off = (size - side) / 2.0
        img = img.resize((size, size), Image.Resampling.BILINEAR,
                         box=(off, off, off + side, off + side))
    return np.asarray(img, dtype=np.float32) / 255.0


def select_cameras(images: Mapping[str, np.ndarray], cameras: Sequence[str]) -> list[np.ndarray]:
    """Return the images of ``cameras`` in order; a missing camera is an error naming it."""
    missing = [c for c in cameras if c not in images]
    if missing:
        raise KeyError(f'observation lacks camera(s) {missing}; the policy uses {list(cameras)}, '
                       f'the observation has {sorted(images)}')
    return [images[c] for c in cameras]


def images_to_tensor(batch_images: Sequence[Mapping[str, np.ndarray]], cameras: Sequence[str],
                     cfg: ImagePreprocessing) -> torch.Tensor:
    """Preprocess B dicts of camera images -> (B, n_cameras, 3, S, S) float32 in [0, 1]."""
    out = np.stack([
        np.stack([preprocess_image(img, cfg, cam).transpose(2, 0, 1)
                  for cam, img in zip(cameras, select_cameras(images, cameras))])
        for images in batch_images])
    return torch.from_numpy(out)
