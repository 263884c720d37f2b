#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes samples/shapes.png (640x480): coloured discs and squares on a gradient,
# made by the project so demos and tests need no downloaded image.
import os
import struct
import zlib

W, H = 640, 480
SHAPES = [("disc", 160, 200, 70, (220, 40, 40)), ("disc", 470, 330, 55, (230, 60, 50)),
          ("square", 420, 120, 60, (40, 90, 210)), ("square", 250, 380, 45, (40, 170, 70))]


def pixel(x, y):
    rgb = (90 + x * 80 // W, 110 + y * 60 // H, 140)
    for kind, cx, cy, s, col in SHAPES:
        if kind == "disc" and (x - cx) ** 2 + (y - cy) ** 2 <= s * s:
            rgb = col
        if kind == "square" and abs(x - cx) <= s and abs(y - cy) <= s:
            rgb = col
    return bytes(rgb)


def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


rows = b"".join(b"\0" + b"".join(pixel(x, y) for x in range(W)) for y in range(H))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)) +
       chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "shapes.png"), "wb") as f:
    f.write(png)
