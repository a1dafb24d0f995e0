# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""numpy -> sensor_msgs Image / CompressedImage (rclpy messages); the rules are in data/images."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from tgrpo_ros.data.images import compressed_fields, image_fields


def header_copy(header: Header | None) -> Header:
    """Return a new Header with the stamp and frame of ``header`` (empty for None)."""
    out = Header()
    if header is not None:
        out.stamp.sec = header.stamp.sec
        out.stamp.nanosec = header.stamp.nanosec
        out.frame_id = header.frame_id
    return out


def numpy_to_image(array: np.ndarray, encoding: str = 'passthrough',
                   header: Header | None = None) -> Image:
    """Build an Image from an (H, W) or (H, W, C) array; ``header`` is copied."""
    msg = Image(**image_fields(array, encoding))
    msg.header = header_copy(header)
    return msg


def numpy_to_compressed(array: np.ndarray, encoding: str, fmt: str = 'jpeg',
                        header: Header | None = None, jpeg_quality: int = 95) -> CompressedImage:
    """Encode an array in ``encoding`` as a JPEG or PNG CompressedImage; ``header`` is copied."""
    msg = CompressedImage(**compressed_fields(array, encoding, fmt, jpeg_quality))
    msg.header = header_copy(header)
    return msg
