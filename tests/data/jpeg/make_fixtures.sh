#!/bin/sh
# Regenerates the JPEG decoding fixtures: a synthetic 45×31 picture (gradients, saturated corners, noise, so
# that chroma upsampling, rounding and the IDCT's range limit all matter) encoded in every sampling layout
# libjpeg-turbo's fancy upsampling treats differently, each with libjpeg-turbo's own decoding (djpeg: islow
# IDCT and fancy upsampling, the defaults PIL uses) as the expected pixels. Needs libjpeg-turbo-progs and
# python3; the outputs are committed, so the tests do not need either.
set -eu
cd "$(dirname "$0")"
python3 - <<'PY'
import random
random.seed(7)
w, h = 45, 31
px = bytearray()
for y in range(h):
    for x in range(w):
        r = (x * 255) // (w - 1); g = (y * 255) // (h - 1); b = ((x + y) * 9) % 256
        if x < 6 and y < 6: r, g, b = 255, 0, 255          # saturated: the IDCT overshoots the range
        if x > w - 7 and y > h - 7: r, g, b = 0, 255, 0
        n = random.randint(-40, 40)
        px += bytes(max(0, min(255, v + n)) for v in (r, g, b))
open('source.ppm', 'wb').write(b'P6\n%d %d\n255\n' % (w, h) + px)
# a picture 3 pixels wide: 4:2:0 chroma 2 samples wide, which libjpeg upsamples by replication
open('narrow.ppm', 'wb').write(b'P6\n3 9\n255\n' + bytes((i * 37) % 256 for i in range(3 * 9 * 3)))
PY
enc() { name=$1; src=$2; shift 2; cjpeg "$@" -outfile "$name.jpg" "$src"; djpeg -outfile "$name.pnm" "$name.jpg"; }
enc h2v1 source.ppm -quality 85 -sample 2x1
enc h1v2 source.ppm -quality 85 -sample 1x2
enc h2v2_progressive_restart source.ppm -quality 75 -sample 2x2 -progressive -restart 1
enc h4v1 source.ppm -quality 90 -sample 4x1
enc h4v2 source.ppm -quality 90 -sample 4x2
enc h1v1 source.ppm -quality 95 -sample 1x1
enc grey source.ppm -quality 80 -grayscale
enc rgb source.ppm -quality 90 -rgb
enc narrow_h2v2 narrow.ppm -quality 90 -sample 2x2
rm -f source.ppm narrow.ppm
