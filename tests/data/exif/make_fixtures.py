#!/usr/bin/python3
"""Regenerates tests/data/exif/expected.tsv: what Pillow's ImageOps.exif_transpose makes of a real photo
carrying each EXIF orientation.

The photo is ../shared's dlib/Tom_Cruise_avp_2014_4.jpg (565×800, a portrait with no EXIF of its own). For
each case an APP1 "Exif" segment is written here, in the byte order a camera would use (Motorola "MM" as
iPhones write, Intel "II" as many Android phones do), with other IFD0 entries before the orientation tag
so that a reader has to walk the directory. The segment goes in after the start-of-image marker; Pillow
decodes the result and turns it upright. The table records the segment (hex) and the size and FNV-1a 64 of
Pillow's RGB pixels, so the test (tests/test_image.cpp) rebuilds the same bytes from ../shared and compares
without the photo being copied into the repository.

Needs Debian's python3-pil (Pillow 9.4, linking libjpeg-turbo 2.1.5 like the reference pipeline):
    /usr/bin/python3 tests/data/exif/make_fixtures.py ../shared
"""
import io
import os
import struct
import sys

import PIL
from PIL import Image, ImageOps

PHOTO = 'data/images/dlib/Tom_Cruise_avp_2014_4.jpg'


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def app1(orientation, order, orientation_type=3):
    """An APP1 Exif segment: IFD0 with Make, XResolution's neighbour fields and Orientation."""
    e = '<' if order == 'II' else '>'
    make = b'facekit\0'
    entries = []
    # (tag, type, count, value bytes or offset); data area after the IFD
    n_entries = 3
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * n_entries + 4
    entries.append(struct.pack(e + 'HHII', 0x010F, 2, len(make), data_offset))               # Make (ASCII)
    entries.append(struct.pack(e + 'HHI', 0x0110, 2, 4) + b'fk1\0')                          # Model (inline)
    if orientation_type == 3:
        entries.append(struct.pack(e + 'HHIH', 0x0112, 3, 1, orientation) + b'\0\0')       # Orientation SHORT
    else:
        entries.append(struct.pack(e + 'HHII', 0x0112, 4, 1, orientation))                  # as LONG
    tiff = order.encode() + struct.pack(e + 'HI', 42, ifd_offset)
    tiff += struct.pack(e + 'H', n_entries) + b''.join(entries) + struct.pack(e + 'I', 0) + make
    body = b'Exif\0\0' + tiff
    return b'\xff\xe1' + struct.pack('>H', len(body) + 2) + body


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../../../shared')
    original = open(os.path.join(shared, PHOTO), 'rb').read()
    assert original[:2] == b'\xff\xd8'
    rows = ['# EXIF orientation fixtures (make_fixtures.py, Pillow %s): photo %s with the APP1 segment inserted'
            ' after SOI;' % (PIL.__version__, PHOTO),
            '# orientation\tbyte order\tAPP1 segment (hex)\twidth\theight\tFNV-1a 64 of Pillow\'s exif_transpose RGB']
    cases = [(o, 'MM') for o in range(1, 9)] + [(o, 'II') for o in (3, 6, 8)]
    for orientation, order in cases:
        seg = app1(orientation, order)
        data = original[:2] + seg + original[2:]
        im = Image.open(io.BytesIO(data))
        assert im.getexif().get(0x0112) == orientation
        up = ImageOps.exif_transpose(im).convert('RGB')
        rows.append('%d\t%s\t%s\t%d\t%d\t%016x' % (orientation, order, seg.hex(), up.width, up.height, fnv1a64(up.tobytes())))
    here = os.path.dirname(os.path.abspath(__file__))
    open(os.path.join(here, 'expected.tsv'), 'w').write('\n'.join(rows) + '\n')


if __name__ == '__main__':
    main()
