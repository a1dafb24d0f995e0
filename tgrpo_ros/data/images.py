# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs Image / CompressedImage <-> numpy, with cv_bridge's semantics and no OpenCV.

No ROS import: messages are read by their fields (rclpy's or rosbags' alike), and the fields of
new ones are returned as a dict; ``tgrpo_ros.ros.images`` builds the rclpy messages.

cv_bridge is not installable from PyPI and breaks on NumPy 2, so this module reimplements the part
of it the package needs, with the same rules:

- ``image_to_numpy(msg, desired_encoding='passthrough')`` returns an (H, W) or (H, W, C) array
  in the message's own encoding (passthrough) or converted to ``desired_encoding``. Rows padded
  past ``width * channels * bytes`` (``step`` larger) are cropped; big-endian data
  (``is_bigendian``) is returned in native byte order. The result never aliases the message.
- ``image_fields(array, encoding='passthrough')`` gives an Image's fields with a dense ``step``
  and the machine's byte order (``tgrpo_ros.ros.images.numpy_to_image`` builds the message).
  ``passthrough`` picks the generic OpenCV-style name from dtype and channels (``8UC3`` ...)
  as cv_bridge does.
- ``compressed_to_numpy`` / ``compressed_fields`` handle JPEG and PNG. cv_bridge decodes with
  OpenCV into BGR; here ``passthrough`` decodes colour images to ``rgb8`` (the package's
  image convention), grey ones to ``mono8`` / ``mono16``. The ``format`` field may be
  cv_bridge's (``jpeg``) or image_transport's (``rgb8; jpeg compressed bgr8``).

Supported encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16, 8UC1, 8UC3, 8UC4, 16UC1, 32FC1.
Any other encoding, or data whose size does not match ``step * height``, raises ``ValueError``
naming the field and the values.
"""

from __future__ import annotations

import io
import sys

import numpy as np
from PIL import Image as PILImage

# encoding -> (numpy dtype (native order), channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4),
    'bgra8': (np.dtype(np.uint8), 4),
    'mono8': (np.dtype(np.uint8), 1),
    'mono16': (np.dtype(np.uint16), 1),
    '8UC1': (np.dtype(np.uint8), 1),
    '8UC3': (np.dtype(np.uint8), 3),
    '8UC4': (np.dtype(np.uint8), 4),
    '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}

# Colour layouts the converter can translate between (channel order of each).
_COLOUR = {'rgb8': 'RGB', 'bgr8': 'BGR', 'rgba8': 'RGBA', 'bgra8': 'BGRA', 'mono8': 'L'}
# Generic names that are the same bytes as a named layout (cv_bridge treats them alike).
_GENERIC_ALIAS = {'8UC1': 'mono8', '16UC1': 'mono16'}

COMPRESSED_FORMATS = ('jpeg', 'png')


def _check_encoding(field: str, encoding: str) -> tuple[np.dtype, int]:
    if encoding not in ENCODINGS:
        raise ValueError(f'{field}: unsupported image encoding {encoding!r}; supported: '
                         f'{", ".join(ENCODINGS)}')
    return ENCODINGS[encoding]


def image_to_numpy(msg, desired_encoding: str = 'passthrough') -> np.ndarray:
    """Return the pixels of a sensor_msgs/Image as a new numpy array (see module docstring).

    Shape (H, W) for one channel, (H, W, C) otherwise; dtype as the encoding says, native order.
    """
    dtype, channels = _check_encoding('Image.encoding', msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(f'Image.step {step} is smaller than width x channels x bytes = '
                         f'{width} x {channels} x {dtype.itemsize} = {row_bytes} '
                         f'(encoding {msg.encoding!r})')
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    if raw.size != step * height:
        raise ValueError(f'Image.data has {raw.size} bytes but step x height = {step} x {height} '
                         f'= {step * height} (encoding {msg.encoding!r}, width {width})')
    rows = raw.reshape(height, step)[:, :row_bytes]
    order = '>' if msg.is_bigendian else '<'
    wire = dtype.newbyteorder(order) if dtype.itemsize > 1 else dtype
    array = np.ascontiguousarray(rows).view(wire).reshape(
        (height, width) if channels == 1 else (height, width, channels))
    array = array.astype(dtype, copy=True)  # native byte order, never aliasing the message
    if desired_encoding in ('passthrough', msg.encoding):
        return array
    return convert_encoding(array, msg.encoding, desired_encoding)


def convert_encoding(array: np.ndarray, source: str, target: str) -> np.ndarray:
    """Convert pixels between encodings (colour orders, alpha, grey; mono16 <-> mono8).

    As cv_bridge: colour <-> colour reorders channels and adds (opaque) or drops alpha; colour
    -> mono uses ITU-R BT.601 luma; mono16 -> mono8 scales by 1/256; 32FC1 converts to nothing.
    """
    _check_encoding('source encoding', source)
    _check_encoding('desired_encoding', target)
    source = _GENERIC_ALIAS.get(source, source)
    target = _GENERIC_ALIAS.get(target, target)
    generic = {'8UC3': 'bgr8', '8UC4': 'bgra8'}  # OpenCV's default channel order
    source = generic.get(source, source)
    target_layout = generic.get(target, target)
    if source == target_layout:
        return array.copy()
    if source == 'mono16' and target_layout == 'mono8':
        return (array >> 8).astype(np.uint8)
    if source == 'mono8' and target_layout == 'mono16':
        return array.astype(np.uint16) << 8
    if source in _COLOUR and target_layout in _COLOUR:
        rgba = _to_rgba(array, _COLOUR[source])
        return _from_rgba(rgba, _COLOUR[target_layout])
    raise ValueError(f'cannot convert image encoding {source!r} to {target!r}')


def _to_rgba(array: np.ndarray, layout: str) -> np.ndarray:
    if layout == 'L':
        grey = array.reshape(array.shape[0], array.shape[1])
        return np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1)
    index = {'R': layout.index('R'), 'G': layout.index('G'), 'B': layout.index('B')}
    alpha = (array[..., layout.index('A')] if 'A' in layout
             else np.full(array.shape[:2], 255, np.uint8))
    return np.stack([array[..., index['R']], array[..., index['G']], array[..., index['B']],
                     alpha], axis=-1)


def _from_rgba(rgba: np.ndarray, layout: str) -> np.ndarray:
    if layout == 'L':
        luma = rgba[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    channel = {'R': 0, 'G': 1, 'B': 2, 'A': 3}
    return np.ascontiguousarray(rgba[..., [channel[c] for c in layout]])


def _passthrough_encoding(array: np.ndarray) -> str:
    channels = 1 if array.ndim == 2 else array.shape[2]
    name = {(np.dtype(np.uint8), 1): '8UC1', (np.dtype(np.uint8), 3): '8UC3',
            (np.dtype(np.uint8), 4): '8UC4', (np.dtype(np.uint16), 1): '16UC1',
            (np.dtype(np.float32), 1): '32FC1'}.get((array.dtype.newbyteorder('='), channels))
    if name is None:
        raise ValueError(f'array dtype {array.dtype} with {channels} channel(s) has no supported '
                         f'encoding; supported: {", ".join(ENCODINGS)}')
    return name


def image_fields(array: np.ndarray, encoding: str = 'passthrough') -> dict:
    """Return the fields of a sensor_msgs/Image holding an (H, W) or (H, W, C) array.

    height, width, encoding, is_bigendian, step and data; the ROS layer puts them into a
    message (``tgrpo_ros.ros.images.numpy_to_image``). The array's dtype and channels must be
    those of ``encoding``; a big-endian array is stored as is with ``is_bigendian = 1``.
    """
    array = np.asarray(array)
    if array.ndim not in (2, 3):
        raise ValueError(f'image array must be (H, W) or (H, W, C), got shape {array.shape}')
    if encoding == 'passthrough':
        encoding = _passthrough_encoding(array)
    dtype, channels = _check_encoding('encoding', encoding)
    got_channels = 1 if array.ndim == 2 else array.shape[2]
    if got_channels != channels or array.dtype.newbyteorder('=') != dtype:
        raise ValueError(f'encoding {encoding!r} needs {channels} channel(s) of {dtype}, got '
                         f'array shape {array.shape} dtype {array.dtype}')
    big = array.dtype.byteorder == '>' or (array.dtype.byteorder == '=' and sys.byteorder == 'big')
    return {'height': int(array.shape[0]), 'width': int(array.shape[1]), 'encoding': encoding,
            'is_bigendian': 1 if big and dtype.itemsize > 1 else 0,
            'step': int(array.shape[1] * channels * dtype.itemsize),
            'data': np.ascontiguousarray(array).tobytes()}


def _compression(fmt: str) -> str:
    """Return 'jpeg' or 'png' from cv_bridge's or image_transport's format string."""
    lowered = fmt.lower()
    for name, words in (('jpeg', ('jpeg', 'jpg')), ('png', ('png',))):
        if any(w in lowered for w in words):
            return name
    raise ValueError(f'CompressedImage.format {fmt!r} is not supported; supported: '
                     f'{", ".join(COMPRESSED_FORMATS)}')


def compressed_to_numpy(msg, desired_encoding: str = 'passthrough') -> np.ndarray:
    """Decode a JPEG or PNG sensor_msgs/CompressedImage (colour to rgb8 under passthrough)."""
    _compression(msg.format)
    try:
        pil = PILImage.open(io.BytesIO(bytes(msg.data)))
        pil.load()
    except Exception as exc:  # noqa: BLE001 - PIL raises several types for corrupt data
        raise ValueError(f'CompressedImage.data ({len(msg.data)} bytes, format {msg.format!r}) '
                         f'could not be decoded: {exc}') from exc
    if pil.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
        array, encoding = np.asarray(pil, dtype=np.uint16), 'mono16'
    elif pil.mode == 'L':
        array, encoding = np.asarray(pil, dtype=np.uint8), 'mono8'
    elif pil.mode in ('RGBA', 'LA', 'PA'):
        array, encoding = np.asarray(pil.convert('RGBA')), 'rgba8'
    else:
        array, encoding = np.asarray(pil.convert('RGB')), 'rgb8'
    array = np.array(array)  # writable copy
    if desired_encoding in ('passthrough', encoding):
        return array
    return convert_encoding(array, encoding, desired_encoding)


def compressed_fields(array: np.ndarray, encoding: str, fmt: str = 'jpeg',
                      jpeg_quality: int = 95) -> dict:
    """Encode an array in ``encoding`` as JPEG or PNG; return a CompressedImage's format and data.

    ``format`` is written image_transport style (``'rgb8; jpeg compressed rgb8'``), which both
    image_transport's decoder and ``compressed_to_numpy`` read. JPEG takes 8-bit mono or colour
    (alpha is dropped); PNG also keeps alpha and 16-bit mono. The ROS layer puts them into a
    message (``tgrpo_ros.ros.images.numpy_to_compressed``).
    """
    kind = _compression(fmt)
    dtype, channels = _check_encoding('encoding', encoding)
    array = np.asarray(array)
    source = _GENERIC_ALIAS.get(encoding, encoding)
    if source == 'mono16':
        if kind == 'jpeg':
            raise ValueError('encoding mono16/16UC1 cannot be stored as JPEG; use fmt="png"')
        pil, stored = PILImage.fromarray(np.ascontiguousarray(array, dtype='<u2')), 'mono16'
    elif source == '32FC1':
        raise ValueError('encoding 32FC1 cannot be compressed as JPEG or PNG')
    elif source == 'mono8':
        pil, stored = PILImage.fromarray(array.reshape(array.shape[:2])), 'mono8'
    else:
        keep_alpha = kind == 'png' and channels == 4
        stored = 'rgba8' if keep_alpha else 'rgb8'
        pil = PILImage.fromarray(convert_encoding(array, encoding, stored))
    buf = io.BytesIO()
    if kind == 'jpeg':
        pil.save(buf, format='JPEG', quality=int(jpeg_quality))
    else:
        pil.save(buf, format='PNG')
    return {'format': f'{encoding}; {kind} compressed {stored}', 'data': buf.getvalue()}


def message_to_rgb8(msg) -> np.ndarray:
    """Return any supported Image or CompressedImage as an (H, W, 3) uint8 RGB array.

    Single-channel depth-like encodings (mono16, 16UC1, 32FC1) are refused: a colour policy must
    not be fed a depth image by a wrong topic mapping.
    """
    if hasattr(msg, 'format'):
        return compressed_to_numpy(msg, 'rgb8')
    if msg.encoding in ('mono16', '16UC1', '32FC1'):
        raise ValueError(f'Image.encoding {msg.encoding!r} is not a colour or grey image; '
                         'a camera topic mapped to a policy camera must carry rgb8, bgr8, rgba8, '
                         'bgra8 or mono8')
    return image_to_numpy(msg, 'rgb8')
