#!/usr/bin/env python3
"""Tests of weights_converter/convert.py (standard library only).

- pnet.pt (legacy) and pnet-zipformat.pt (zip) give byte-identical tensor data;
- strides are applied: values are checked against the raw zip storages read directly (NOTES: conv weights
  are stored column-major), independently of the unpickler;
- every file under ../shared/models converts;
- broken and malicious files are refused with one line on stderr and exit status 1, and nothing from a
  checkpoint is ever executed.
"""
import array
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.join(HERE, '..', 'weights_converter', 'convert.py')
SHARED = os.environ.get('FACEKIT_SHARED') or os.path.join(HERE, '..', '..', 'shared')
MODELS = os.path.join(SHARED, 'models')


def need(path):
    if not os.path.exists(path):
        raise AssertionError(f'required test data missing: {path} (set FACEKIT_SHARED)')
    return path


def run(*args):
    return subprocess.run([sys.executable, CONVERT, *args], capture_output=True, text=True, timeout=600)


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack_from('<Q', data, 0)[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        b, e = v['data_offsets']
        out[k] = (v['dtype'], v['shape'], body[b:e])
    return header.get('__metadata__', {}), out


class ConverterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def convert(self, src, name):
        out = os.path.join(self.dir, name)
        r = run(need(src), '-o', out)
        self.assertEqual(r.returncode, 0, r.stderr)
        return read_safetensors(out)

    def test_legacy_and_zip_give_identical_tensors(self):
        meta_a, a = self.convert(os.path.join(MODELS, 'mtcnn', 'pnet.pt'), 'a.safetensors')
        meta_b, b = self.convert(os.path.join(MODELS, 'mtcnn', 'pnet-zipformat.pt'), 'b.safetensors')
        self.assertEqual(len(a), 13)
        self.assertEqual(a, b)
        self.assertEqual(meta_a['architecture'], 'pnet')
        self.assertEqual(meta_a['source'], 'pnet.pt')

    def test_strides_are_applied(self):
        # Read the zip archive's raw storages ourselves; conv1.weight is (10,3,3,3) with stride (1,10,30,90).
        z = zipfile.ZipFile(need(os.path.join(MODELS, 'mtcnn', 'pnet-zipformat.pt')))
        storages = {}
        for name in z.namelist():
            if '/data/' in name:
                arr = array.array('f')
                arr.frombytes(z.read(name))
                storages[name.rsplit('/', 1)[1]] = arr
        _, tensors = self.convert(os.path.join(MODELS, 'mtcnn', 'pnet-zipformat.pt'), 'c.safetensors')
        conv1 = array.array('f')
        conv1.frombytes(tensors['conv1.weight'][2])
        raw = next(s for s in storages.values() if len(s) == 270)
        for o in range(10):
            for i in range(3):
                for y in range(3):
                    for x in range(3):
                        self.assertEqual(conv1[((o * 3 + i) * 3 + y) * 3 + x], raw[o + 10 * i + 30 * y + 90 * x])
        # Strides permute values, never change them: per-tensor sums match some storage's sum.
        sums = sorted(round(sum(s), 3) for s in storages.values())
        conv_sums = sorted(round(sum(array.array('f', t[2])), 3) for t in tensors.values())
        self.assertEqual(sums, conv_sums)

    def test_every_upstream_model_converts(self):
        out = os.path.join(self.dir, 'models')
        r = run('--models-dir', out, need(MODELS))
        self.assertEqual(r.returncode, 0, r.stderr)
        # the synthetic checkpoint is converted under its own name and marked: no facenet.safetensors
        expected = {'pnet', 'rnet', 'onet', 'mobilefacenet', 'facenet-synthetic'}
        self.assertEqual({f.split('.')[0] for f in os.listdir(out)}, expected)
        meta, tensors = read_safetensors(os.path.join(out, 'mobilefacenet.safetensors'))
        graph = json.loads(meta['graph'])
        self.assertEqual(len(graph['ops']), 230)
        self.assertEqual(tensors['MobileFaceNet/Conv2d_0/weights/read'][1], [64, 3, 3, 3])
        self.assertEqual(meta['synthetic'], 'false')
        meta, tensors = read_safetensors(os.path.join(out, 'facenet-synthetic.safetensors'))
        self.assertEqual(meta['architecture'], 'inception_resnet_v1')
        self.assertEqual(meta['synthetic'], 'true')
        self.assertEqual(meta['source_sha256'], 'f95bbe40c975b245a6bd22e30aab200eec8afc3196981a55b622cc4dd470e7f7')
        self.assertNotIn('trained_on', meta)  # 16 logits classes: no release's
        self.assertEqual(tensors['last_bn.num_batches_tracked'][0], 'I64')
        meta, _ = read_safetensors(os.path.join(out, 'pnet.safetensors'))
        self.assertEqual(meta['synthetic'], 'false')

    def test_embed_header(self):
        hpp = os.path.join(self.dir, 'pnet_weights.hpp')
        r = run(need(os.path.join(MODELS, 'mtcnn', 'pnet.pt')), '-o', os.path.join(self.dir, 'e.safetensors'),
                '--embed-header', hpp)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = open(hpp).read()
        self.assertIn('inline constexpr unsigned char facekit_weights_pnet_weights[', text)
        size = os.path.getsize(os.path.join(self.dir, 'e.safetensors'))
        self.assertIn(f'[{size}]', text)

    # ---- broken and malicious input -------------------------------------------------------------
    # magic number, protocol 1001, sys_info {'little_endian': True}: what precedes a legacy state_dict
    LEGACY_PREAMBLE = (b'\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.' + b'\x80\x02M\xe9\x03.' +
                       b'\x80\x02}q\x00X\x0d\x00\x00\x00little_endianq\x01\x88s.')

    def refused(self, data, suffix='.pt', expect=None):
        path = os.path.join(self.dir, 'bad' + suffix)
        with open(path, 'wb') as f:
            f.write(data)
        r = run(path, '-o', os.path.join(self.dir, 'bad.safetensors'))
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.strip().split('\n')
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith('convert.py: error: ' + path), lines[0])
        if expect:
            self.assertIn(expect, lines[0])
        return lines[0]

    def test_truncated_files(self):
        for name in ('pnet.pt', 'pnet-zipformat.pt'):
            data = open(need(os.path.join(MODELS, 'mtcnn', name)), 'rb').read()
            for cut in (0, 1, 10, 100, 1000, len(data) // 2, len(data) - 1):
                with self.subTest(name=name, cut=cut):
                    self.refused(data[:cut])
        tfl = open(need(os.path.join(MODELS, 'mobilefacenet', 'MobileFaceNet.tflite')), 'rb').read()
        for cut in (0, 8, 64, 4096):
            with self.subTest(tflite=cut):
                self.refused(tfl[:cut], '.tflite')

    def test_trailing_garbage(self):
        data = open(need(os.path.join(MODELS, 'mtcnn', 'pnet.pt')), 'rb').read()
        self.refused(data + b'xx', expect='unexpected bytes after the last storage')

    def test_pickle_calling_a_global_is_refused_and_not_executed(self):
        marker = os.path.join(self.dir, 'pwned')
        payload = (b'\x80\x02cos\nsystem\nq\x00X' + struct.pack('<I', len('touch ' + marker)) +
                   ('touch ' + marker).encode() + b'q\x01\x85q\x02Rq\x03.')
        self.refused(payload, expect='refused global os.system')
        self.assertFalse(os.path.exists(marker))
        # The same payload where the state_dict should be, after a valid legacy preamble.
        self.refused(self.LEGACY_PREAMBLE + payload, expect='refused global os.system')
        self.assertFalse(os.path.exists(marker))

    def test_unexpected_opcode_is_refused(self):
        # INST builds an object by calling a class named in the stream: never allowed.
        self.refused(self.LEGACY_PREAMBLE + b'\x80\x02(ibuiltins\nlist\n.', expect='unexpected pickle opcode INST')

    def test_huge_memo_index_is_refused(self):
        # LONG_BINPUT 2^31 - 1: the C unpickler would grow its memo to 16 GB (the mutation test found one)
        self.refused(self.LEGACY_PREAMBLE + b'\x80\x02}r\xff\xff\xff\x7f.', expect='pickle memo index 2147483647 out of range')

    def test_size_mismatch(self):
        data = bytearray(open(need(os.path.join(MODELS, 'mtcnn', 'pnet.pt')), 'rb').read())
        # The first storage's int64 element count sits right after the storage-key list pickle.
        keys_end = data.index(b'e.', 1600) + 2  # end of the key list (APPENDS, STOP)
        (numel,) = struct.unpack_from('<q', data, keys_end)
        struct.pack_into('<q', data, keys_end, numel + 1)
        self.refused(bytes(data), expect='elements, the pickle says')

    def test_not_a_checkpoint(self):
        self.refused(b'hello world, not a model', expect='not a PyTorch checkpoint')
        self.refused(b'\x00' * 64, '.tflite', expect='not a TensorFlow Lite model')
        self.refused(b'PK\x03\x04garbage', expect='broken zip archive')


class MutationTest(unittest.TestCase):
    """Seeded random mutations of the real upstream files through the pickle, zip and TFLite readers: each
    mutated file converts or is refused with ConvertError; nothing else is raised, nothing hangs (10 s)."""

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, os.path.join(HERE, '..', 'weights_converter'))
        import convert  # noqa: E402
        import errors  # noqa: E402
        cls.convert, cls.ConvertError = staticmethod(convert.convert), errors.ConvertError
        cls.dir = tempfile.mkdtemp(prefix='facekit-mutate-')

    @staticmethod
    def mutate(rng, data, structure_bytes):
        """One mutation; 80 % of them inside the first `structure_bytes` (pickle, zip directory, flatbuffer
        tables), where a reader's decisions are made."""
        b = bytearray(data)
        kind = rng.randrange(5)
        pos = rng.randrange(min(len(b), structure_bytes)) if rng.random() < 0.8 else rng.randrange(len(b))
        if kind == 0:  # flip bits
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b)) if rng.random() < 0.2 else min(len(b) - 1, pos + rng.randrange(16))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # an extreme integer
            value = rng.choice([b'\xff\xff\xff\xff', b'\x00\x00\x00\x80', b'\xff\xff\xff\x7f', b'\x00\x00\x00\x00',
                                b'\xff\xff\xff\xff\xff\xff\xff\x7f'])
            b[pos:pos + len(value)] = value
        elif kind == 2:  # truncate
            del b[pos:]
        elif kind == 3:  # insert bytes
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        else:  # duplicate a run (repeated records, overlapping tables)
            n = rng.randint(1, 64)
            b[pos:pos] = b[pos:pos + n]
        return bytes(b)

    def check_mutations(self, source, suffix, count, structure_bytes, seed):
        import random
        import signal
        with open(need(source), 'rb') as f:
            data = f.read()
        rng = random.Random(seed)
        outcomes = {'converted': 0, 'refused': 0}

        def timeout(_signum, _frame):
            raise TimeoutError('conversion took more than 10 s')
        old = signal.signal(signal.SIGALRM, timeout)
        try:
            for i in range(count):
                path = os.path.join(self.dir, f'm{i}{suffix}')
                with open(path, 'wb') as f:
                    f.write(self.mutate(rng, data, structure_bytes))
                signal.alarm(10)
                try:
                    self.convert(path)
                    outcomes['converted'] += 1
                except self.ConvertError:
                    outcomes['refused'] += 1
                except Exception as e:  # anything else is a defect of the reader
                    self.fail(f'{os.path.basename(source)} mutation {i} (seed {seed}) raised {type(e).__name__}: {e}')
                finally:
                    signal.alarm(0)
                    os.remove(path)
        finally:
            signal.signal(signal.SIGALRM, old)
        self.assertEqual(sum(outcomes.values()), count)
        self.assertGreater(outcomes['refused'], 0)  # the mutations do reach the readers' checks
        return outcomes

    def test_legacy_pickle(self):
        self.check_mutations(os.path.join(MODELS, 'mtcnn', 'pnet.pt'), '.pt', 1000, 4096, 1)

    def test_zip_pickle(self):
        self.check_mutations(os.path.join(MODELS, 'mtcnn', 'pnet-zipformat.pt'), '.pt', 400, 4096, 2)

    def test_tflite(self):
        # the flatbuffer's tables and graph sit at the end as well as the start: mutate everywhere
        self.check_mutations(os.path.join(MODELS, 'mobilefacenet', 'MobileFaceNet.tflite'), '.tflite', 80, 1 << 23, 3)


if __name__ == '__main__':
    unittest.main(verbosity=1)
