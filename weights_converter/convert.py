#!/usr/bin/env python3
"""facekit weights converter: PyTorch checkpoints (legacy or zip) and TFLite models -> safetensors.

    python3 weights_converter/convert.py INPUT [-o OUTPUT.safetensors] [--embed-header OUTPUT.hpp]
    python3 weights_converter/convert.py --models-dir DIR SOURCE_DIR

Standard library only. Tensor names are kept as upstream wrote them; __metadata__ records the
architecture, the source file and (for TFLite) the operator graph, so the C++ side can check that it
builds the same network.
"""
import argparse
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from errors import ConvertError  # noqa: E402
from safetensors_writer import embed_header, serialize, write_atomic  # noqa: E402
from tflite_model import read_tflite  # noqa: E402
from torch_checkpoint import read_checkpoint  # noqa: E402

FORMAT_VERSION = '1'

# Architecture signatures: the tensor names that identify each network, and how many tensors it has.
MTCNN_KEYS = {
    'pnet': {'conv1.weight', 'conv4_1.weight', 'conv4_2.weight'},
    'rnet': {'conv1.weight', 'dense4.weight', 'dense5_1.weight', 'dense5_2.weight'},
    'onet': {'conv1.weight', 'dense5.weight', 'dense6_1.weight', 'dense6_2.weight', 'dense6_3.weight'},
}
MTCNN_COUNTS = {'pnet': 13, 'rnet': 16, 'onet': 21}
FACENET_KEYS = {'conv2d_1a.conv.weight', 'mixed_6a.branch0.conv.weight', 'block8.conv2d.weight',
                'last_linear.weight', 'last_bn.running_var'}


def recognise_torch(tensors, what):
    names = set(tensors)
    for arch, keys in MTCNN_KEYS.items():
        if keys <= names:
            if len(names) != MTCNN_COUNTS[arch]:
                raise ConvertError(f'{what}: looks like MTCNN {arch} but has {len(names)} tensors, '
                                   f'expected {MTCNN_COUNTS[arch]}')
            return arch
    if FACENET_KEYS <= names:
        return 'inception_resnet_v1'
    raise ConvertError(f'{what}: unknown architecture (tensor names match no supported network)')


def recognise_tflite(graph, what):
    if any(t.startswith('MobileFaceNet/') for t in graph['shapes']):
        return 'mobilefacenet'
    raise ConvertError(f'{what}: unknown TFLite architecture (expected MobileFaceNet tensor names)')


# Inception-ResNet-v1 checkpoints: the classifier's size names the training set of facenet-pytorch's releases.
FACENET_RELEASES = {8631: 'vggface2', 10575: 'casia-webface'}
# SHA-256 of the synthetic test checkpoint (../shared/models/facenet/irv1-synthetic.pt: the release's layout
# with seeded random weights). Its embeddings mean nothing; the converted file is marked so that facekit
# refuses it outside the tests.
SYNTHETIC_SHA256 = {'f95bbe40c975b245a6bd22e30aab200eec8afc3196981a55b622cc4dd470e7f7': 'irv1-synthetic.pt'}


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def convert(path):
    """Returns (architecture, safetensors bytes)."""
    what = str(path)
    if str(path).endswith('.tflite'):
        tensors, graph = read_tflite(path)
        arch = recognise_tflite(graph, what)
        meta = {'graph': json.dumps(graph, separators=(',', ':')), 'layout': 'tflite (CONV_2D OHWI, DEPTHWISE 1HWC)'}
    else:
        tensors = read_checkpoint(path)
        arch = recognise_torch(tensors, what)
        meta = {}
        if arch == 'inception_resnet_v1':
            # the classifier of the training set is not part of the embedder; its size names the release
            logits = tensors.get('logits.weight')  # (dtype, shape, data)
            classes = logits[1][0] if logits and logits[1] else None
            if classes in FACENET_RELEASES:
                meta['trained_on'] = FACENET_RELEASES[classes]
            tensors = {k: v for k, v in tensors.items() if not k.startswith('logits.')}
        meta.update({'order': json.dumps(list(tensors)), 'layout': 'pytorch (conv OIHW, linear OI), row-major'})
    digest = sha256_of(path)
    synthetic = digest in SYNTHETIC_SHA256
    meta.update({'architecture': arch, 'source': os.path.basename(str(path)), 'source_sha256': digest,
                 'synthetic': 'true' if synthetic else 'false', 'format': 'facekit-weights',
                 'format_version': FORMAT_VERSION})
    if synthetic:
        meta['synthetic_note'] = ('synthetic test checkpoint (seeded random weights in the release layout): '
                                  'its embeddings do not identify anyone; for parity tests only')
    return arch, serialize(tensors, meta)


# --models-dir: which upstream files feed which models-directory name; earlier patterns are preferred.
MODEL_FILES = {
    'pnet': ['pnet.pt'], 'rnet': ['rnet.pt'], 'onet': ['onet.pt'],
    'mobilefacenet': ['MobileFaceNet.tflite'],
    'facenet': ['20180402-114759-vggface2.pt', '20180408-102900-casia-webface.pt'],
    # the synthetic checkpoint keeps its own name: tests and benchmarks use it, nobody identifies with it
    'facenet-synthetic': ['irv1-synthetic.pt'],
}
ARCHITECTURE = {'pnet': 'pnet', 'rnet': 'rnet', 'onet': 'onet', 'mobilefacenet': 'mobilefacenet',
                'facenet': 'inception_resnet_v1', 'facenet-synthetic': 'inception_resnet_v1'}


def convert_models_dir(out_dir, source_dir):
    found = {}
    for root, _dirs, files in os.walk(source_dir):
        for f in files:
            found.setdefault(f, os.path.join(root, f))
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for model, candidates in MODEL_FILES.items():
        src = next((found[c] for c in candidates if c in found), None)
        if src is None:
            continue
        arch, data = convert(src)
        if ARCHITECTURE[model] != arch:
            raise ConvertError(f'{src}: expected a {model} network, found {arch}')
        dst = os.path.join(out_dir, f'{model}.safetensors')
        write_atomic(dst, data)
        written.append((src, dst))
    if not written:
        raise ConvertError(f'{source_dir}: no known upstream weight file found')
    # converters before the synthetic checkpoint had its own name wrote it as facenet.safetensors
    stale = os.path.join(out_dir, 'facenet.safetensors')
    if 'facenet' not in {model for model, c in MODEL_FILES.items() if any(f in found for f in c)} and \
            os.path.exists(stale) and read_metadata(stale).get('source') == 'irv1-synthetic.pt':
        os.remove(stale)
    return written


def read_metadata(path):
    """The __metadata__ of a safetensors file ({} when it has none or is not one)."""
    try:
        with open(path, 'rb') as f:
            size = int.from_bytes(f.read(8), 'little')
            if size > 1 << 24:
                return {}
            return json.loads(f.read(size)).get('__metadata__', {})
    except (OSError, ValueError):
        return {}


def main(argv=None):
    p = argparse.ArgumentParser(prog='convert.py', description=__doc__.split('\n\n')[0])
    p.add_argument('input', help='a .pt checkpoint or .tflite model (with --models-dir: a directory to search)')
    p.add_argument('-o', '--output', help='output .safetensors (default: input name with .safetensors)')
    p.add_argument('--embed-header', metavar='HPP', help='also write a C++ header with the weights as an array')
    p.add_argument('--models-dir', metavar='DIR', help='convert every known upstream file under INPUT into DIR')
    args = p.parse_args(argv)
    try:
        if args.models_dir:
            for src, dst in convert_models_dir(args.models_dir, args.input):
                print(f'{src} -> {dst}')
            return 0
        _arch, data = convert(args.input)
        out = args.output or re.sub(r'\.(pt|pth|tflite)$', '', args.input) + '.safetensors'
        write_atomic(out, data)
        print(f'{args.input} -> {out}')
        if args.embed_header:
            symbol = 'facekit_weights_' + re.sub(r'\W', '_', os.path.splitext(os.path.basename(args.embed_header))[0])
            write_atomic(args.embed_header, embed_header(data, symbol, args.input).encode())
            print(f'{args.input} -> {args.embed_header} ({symbol})')
        return 0
    except ConvertError as e:
        print(f'convert.py: error: {e}', file=sys.stderr)
        return 1
    except OSError as e:
        print(f'convert.py: error: {e.filename}: {e.strerror}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
