# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Image conversion against arrays and byte layouts built by hand (cv_bridge semantics)."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from tgrpo_ros.data.images import compressed_to_numpy, image_to_numpy, message_to_rgb8
from tgrpo_ros.ros.images import numpy_to_compressed, numpy_to_image

# Real sensor_msgs/std_msgs messages of the installed distribution: run on Jazzy too.
pytestmark = pytest.mark.ros


def _msg(encoding, height, width, step, data: bytes, bigendian=0):
    m = Image()
    m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id = 12, 345, 'cam'
    m.encoding, m.height, m.width, m.step = encoding, height, width, step
    m.is_bigendian = bigendian
    m.data = data
    return m


# A 2 x 3 image whose pixel (r, c) has R = 10r + c, G = 100 + R, B = 200 + R (by hand).
RGB = np.array([[[0, 100, 200], [1, 101, 201], [2, 102, 202]],
                [[10, 110, 210], [11, 111, 211], [12, 112, 212]]], dtype=np.uint8)


@pytest.mark.parametrize('encoding,order', [('rgb8', [0, 1, 2]), ('bgr8', [2, 1, 0])])
def test_three_channel_encodings_read_by_hand_layout(encoding, order):
    data = bytes(int(RGB[r, c, k]) for r in range(2) for c in range(3) for k in order)
    m = _msg(encoding, 2, 3, 9, data)
    np.testing.assert_array_equal(image_to_numpy(m), RGB[..., order])
    np.testing.assert_array_equal(image_to_numpy(m, 'rgb8'), RGB)
    np.testing.assert_array_equal(message_to_rgb8(m), RGB)


@pytest.mark.parametrize('encoding,order', [('rgba8', [0, 1, 2, 3]), ('bgra8', [2, 1, 0, 3])])
def test_four_channel_encodings_keep_alpha_in_passthrough(encoding, order):
    rgba = np.concatenate([RGB, np.full((2, 3, 1), 7, np.uint8)], axis=-1)
    data = bytes(int(rgba[r, c, k]) for r in range(2) for c in range(3) for k in order)
    m = _msg(encoding, 2, 3, 12, data)
    got = image_to_numpy(m)
    assert got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, rgba[..., order])
    np.testing.assert_array_equal(image_to_numpy(m, 'rgb8'), RGB)


def test_padded_rows_are_cropped():
    # step 12 > 3 pixels x 3 bytes: 3 bytes of junk (0xEE) at the end of each row.
    data = b''.join(RGB[r].tobytes() + b'\xee\xee\xee' for r in range(2))
    got = image_to_numpy(_msg('rgb8', 2, 3, 12, data))
    np.testing.assert_array_equal(got, RGB)
    assert got.flags['C_CONTIGUOUS'] and got.flags['WRITEABLE']


def test_mono8_and_8uc1_are_two_dimensional():
    grey = np.array([[0, 1, 2], [250, 251, 255]], np.uint8)
    for enc in ('mono8', '8UC1'):
        got = image_to_numpy(_msg(enc, 2, 3, 4, b'\x00\x01\x02\x09\xfa\xfb\xff\x09'))
        assert got.shape == (2, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, grey)
    rgb = message_to_rgb8(_msg('mono8', 2, 3, 3, grey.tobytes()))
    np.testing.assert_array_equal(rgb, np.stack([grey] * 3, axis=-1))


@pytest.mark.parametrize('encoding', ['mono16', '16UC1'])
def test_sixteen_bit_little_and_big_endian(encoding):
    values = np.array([[1, 256, 0x1234], [0xFFFF, 2, 0xABCD]], dtype=np.uint16)
    little = b''.join(int(v).to_bytes(2, 'little') for v in values.ravel())
    big = b''.join(int(v).to_bytes(2, 'big') for v in values.ravel())
    np.testing.assert_array_equal(image_to_numpy(_msg(encoding, 2, 3, 6, little)), values)
    got = image_to_numpy(_msg(encoding, 2, 3, 6, big, bigendian=1))
    np.testing.assert_array_equal(got, values)
    assert got.dtype == np.dtype(np.uint16)  # native order, not '>u2'
    # Big-endian with padded rows (step 8 = 6 data bytes + 2 junk).
    padded = b''.join(big[r * 6:(r + 1) * 6] + b'\x99\x99' for r in range(2))
    np.testing.assert_array_equal(
        image_to_numpy(_msg(encoding, 2, 3, 8, padded, bigendian=1)), values)


def test_32fc1_little_and_big_endian():
    values = np.array([[0.5, -1.25], [1e-3, np.inf]], dtype=np.float32)
    little = values.astype('<f4').tobytes()
    big = values.astype('>f4').tobytes()
    np.testing.assert_array_equal(image_to_numpy(_msg('32FC1', 2, 2, 8, little)), values)
    np.testing.assert_array_equal(image_to_numpy(_msg('32FC1', 2, 2, 8, big, 1)), values)


def test_unsupported_encoding_names_the_field_and_value():
    with pytest.raises(ValueError, match=r"Image.encoding: unsupported image encoding 'yuv422'"):
        image_to_numpy(_msg('yuv422', 2, 2, 4, bytes(8)))


def test_size_mismatch_names_step_height_and_sizes():
    with pytest.raises(ValueError, match=r'data has 17 bytes but step x height = 9 x 2 = 18'):
        image_to_numpy(_msg('rgb8', 2, 3, 9, bytes(17)))
    with pytest.raises(ValueError, match=r'Image.step 8 is smaller than .* 3 x 3 x 1 = 9'):
        image_to_numpy(_msg('rgb8', 2, 3, 8, bytes(16)))


def test_depth_encodings_are_refused_as_policy_images():
    with pytest.raises(ValueError, match="Image.encoding '16UC1' is not a colour or grey"):
        message_to_rgb8(_msg('16UC1', 1, 1, 2, bytes(2)))


@pytest.mark.parametrize('encoding,array', [
    ('rgb8', RGB), ('bgr8', RGB[..., ::-1]),
    ('rgba8', np.dstack([RGB, np.full((2, 3), 9, np.uint8)])),
    ('bgra8', np.dstack([RGB[..., ::-1], np.full((2, 3), 9, np.uint8)])),
    ('mono8', RGB[..., 0]), ('mono16', np.array([[1, 2, 3], [400, 500, 65535]], np.uint16)),
    ('16UC1', np.array([[9, 8, 7], [6, 5, 4]], np.uint16)),
    ('32FC1', np.array([[0.25, 1.5, -3.0], [4.0, 5.0, 6.0]], np.float32)),
])
def test_round_trip_keeps_pixels_and_header(encoding, array):
    header = Header(frame_id='wrist_camera_optical_frame')
    header.stamp.sec, header.stamp.nanosec = 1700000000, 123456789
    msg = numpy_to_image(np.ascontiguousarray(array), encoding, header)
    assert (msg.encoding, msg.height, msg.width) == (encoding, 2, 3)
    assert msg.step == array.shape[1] * (1 if array.ndim == 2 else array.shape[2]) * \
        array.dtype.itemsize
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == \
        (1700000000, 123456789, 'wrist_camera_optical_frame')
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_big_endian_array_is_written_with_the_flag():
    values = np.array([[1, 0x0203]], dtype='>u2')
    msg = numpy_to_image(values, 'mono16')
    assert msg.is_bigendian == 1 and bytes(msg.data) == b'\x00\x01\x02\x03'
    np.testing.assert_array_equal(image_to_numpy(msg), [[1, 0x0203]])


def test_passthrough_picks_generic_encoding_and_wrong_dtype_is_refused():
    assert numpy_to_image(RGB).encoding == '8UC3'
    assert numpy_to_image(np.zeros((2, 2), np.float32)).encoding == '32FC1'
    with pytest.raises(ValueError, match="encoding 'rgb8' needs 3 channel"):
        numpy_to_image(np.zeros((2, 2), np.uint8), 'rgb8')


def _smooth_rgb(h=48, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)


def test_png_round_trip_is_exact_for_colour_alpha_grey_and_16_bit():
    header = Header(frame_id='cam')
    header.stamp.sec = 5
    rgb = _smooth_rgb()
    for enc, arr, want in (
            ('rgb8', rgb, rgb), ('bgr8', rgb[..., ::-1], rgb),
            ('rgba8', np.dstack([rgb, rgb[..., 0]]), np.dstack([rgb, rgb[..., 0]])),
            ('mono8', rgb[..., 1], rgb[..., 1]),
            ('mono16', rgb[..., 0].astype(np.uint16) * 257, rgb[..., 0].astype(np.uint16) * 257)):
        msg = numpy_to_compressed(np.ascontiguousarray(arr), enc, 'png', header)
        assert isinstance(msg, CompressedImage) and 'png' in msg.format
        assert (msg.header.stamp.sec, msg.header.frame_id) == (5, 'cam')
        np.testing.assert_array_equal(compressed_to_numpy(msg), want)
    # Passthrough of bgr8 stored colour as RGB; asking for bgr8 gives the original back.
    msg = numpy_to_compressed(np.ascontiguousarray(rgb[..., ::-1]), 'bgr8', 'png')
    np.testing.assert_array_equal(compressed_to_numpy(msg, 'bgr8'), rgb[..., ::-1])


def test_jpeg_round_trip_is_close_and_keeps_the_header():
    rgb = _smooth_rgb()
    header = Header(frame_id='agentview')
    header.stamp.sec, header.stamp.nanosec = 42, 7
    msg = numpy_to_compressed(rgb, 'rgb8', 'jpeg', header, jpeg_quality=95)
    assert msg.format == 'rgb8; jpeg compressed rgb8'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == \
        (42, 7, 'agentview')
    back = compressed_to_numpy(msg)
    assert back.shape == rgb.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 3.0
    # cv_bridge's own format string ('jpeg') reads as well.
    msg.format = 'jpeg'
    np.testing.assert_array_equal(message_to_rgb8(msg), back)


def test_compressed_errors_name_the_field():
    msg = CompressedImage(format='tiff')
    msg.data = b'\x00' * 4
    with pytest.raises(ValueError, match="CompressedImage.format 'tiff' is not supported"):
        compressed_to_numpy(msg)
    msg.format = 'jpeg'
    with pytest.raises(ValueError, match=r'CompressedImage.data \(4 bytes, format .jpeg.\)'):
        compressed_to_numpy(msg)
    with pytest.raises(ValueError, match='mono16/16UC1 cannot be stored as JPEG'):
        numpy_to_compressed(np.zeros((2, 2), np.uint16), 'mono16', 'jpeg')
