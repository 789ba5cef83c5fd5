"""An image's size read from its header, before anything decodes it; the one pixel limit.

A 1 MB PNG can declare 20000x20000 pixels: decoding it takes 1.2 GB (per worker, for an
image a face or ImageNet set never holds). :func:`pixel_problem` reads the width and height
a PNG, JPEG, GIF, BMP or WebP file states in its first bytes and refuses an image over
:data:`MAX_PIXELS`; every decode of a user's image (``modelzoo prepare``, the decoded
cache, LFW evaluation, the plugins' checks) asks it first. Other formats (TIFF, PNM, JPEG
2000) state no size this reads; OpenCV's own limit (2^30 pixels) still applies to them.
No OpenCV, numpy or torch here.
"""

from __future__ import annotations

import struct
from typing import Optional

# 64 megapixels (8192 x 8192): past any photo a data set here holds (ImageNet's largest is
# about 10 MP), and 192 MB decoded.
MAX_PIXELS = 64 * 2**20
# JPEG markers that carry the frame size (SOF0-SOF15 but DHT C4, JPG C8 and DAC CC).
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def header_size(data: bytes) -> Optional[tuple[int, int]]:
    """``(width, height)`` as the file's header states it, or None when it states none this reads."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data.startswith(b"BM"):
            return _bmp(data)
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
    except struct.error:  # cut short inside the header
        return None
    return None


def pixel_problem(data: bytes, limit: int = MAX_PIXELS) -> Optional[str]:
    """Why the image in ``data`` must not be decoded ("20000x20000 pixels (381 MP), over the
    64 MP limit"), or None."""
    size = header_size(data)
    if size is None or size[0] * size[1] <= limit:
        return None
    width, height = size
    return f"{width}x{height} pixels ({width * height / 2**20:.0f} MP), over the {limit / 2**20:.0f} MP limit"


def _bmp(data: bytes) -> tuple[int, int]:
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _jpeg(data: bytes) -> Optional[tuple[int, int]]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def _webp(data: bytes) -> Optional[tuple[int, int]]:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    return None
