"""Reads a TensorFlow Lite model (a flatbuffer) by hand with struct, following tensorflow/lite/schema/schema.fbs.

Only what an inference graph of float32 operators needs is read: tensors, buffers, operator codes, operators
and the builtin options of the operators facekit runs. Every offset is bounds-checked.
"""
import array
import struct
import sys

from errors import ConvertError

BUILTIN_OPS = {
    0: 'ADD', 1: 'AVERAGE_POOL_2D', 2: 'CONCATENATION', 3: 'CONV_2D', 4: 'DEPTHWISE_CONV_2D', 6: 'DEQUANTIZE',
    9: 'FULLY_CONNECTED', 11: 'L2_NORMALIZATION', 14: 'LOGISTIC', 17: 'MAX_POOL_2D', 18: 'MUL', 19: 'RELU',
    21: 'RELU6', 22: 'RESHAPE', 25: 'SOFTMAX', 34: 'PAD', 39: 'TRANSPOSE', 40: 'MEAN', 41: 'SUB', 42: 'DIV',
    43: 'SQUEEZE', 54: 'PRELU', 101: 'ABS',
}
TENSOR_TYPES = {0: ('F32', 4, 'f'), 2: ('I32', 4, 'i'), 4: ('I64', 8, 'q')}
PADDING = {0: 'SAME', 1: 'VALID'}
ACTIVATION = {0: 'NONE', 1: 'RELU', 2: 'RELU_N1_TO_1', 3: 'RELU6', 4: 'TANH', 5: 'SIGN_BIT'}
# builtin options: option table field index -> (name, struct format, decoder); per operator name
OPTIONS = {
    'CONV_2D': [('padding', 'b', PADDING), ('stride_w', 'i', None), ('stride_h', 'i', None),
                ('fused_activation_function', 'b', ACTIVATION), ('dilation_w_factor', 'i', None),
                ('dilation_h_factor', 'i', None)],
    'DEPTHWISE_CONV_2D': [('padding', 'b', PADDING), ('stride_w', 'i', None), ('stride_h', 'i', None),
                          ('depth_multiplier', 'i', None), ('fused_activation_function', 'b', ACTIVATION),
                          ('dilation_w_factor', 'i', None), ('dilation_h_factor', 'i', None)],
    'ADD': [('fused_activation_function', 'b', ACTIVATION)],
    'SUB': [('fused_activation_function', 'b', ACTIVATION)],
    'MUL': [('fused_activation_function', 'b', ACTIVATION)],
}
OPTION_DEFAULTS = {'padding': 'SAME', 'stride_w': 0, 'stride_h': 0, 'fused_activation_function': 'NONE',
                   'dilation_w_factor': 1, 'dilation_h_factor': 1, 'depth_multiplier': 0}


class _Buf:
    def __init__(self, data, what):
        self.data, self.what = data, what

    def get(self, fmt, pos):
        size = struct.calcsize('<' + fmt)
        if pos < 0 or pos + size > len(self.data):
            raise ConvertError(f'{self.what}: flatbuffer offset {pos} is outside the file (truncated or corrupt)')
        return struct.unpack_from('<' + fmt, self.data, pos)[0]


class _Table:
    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        vtable = pos - buf.get('i', pos)
        self.vtable = vtable
        self.vsize = buf.get('H', vtable)
        if self.vsize < 4 or self.vsize % 2:
            raise ConvertError(f'{buf.what}: corrupt flatbuffer vtable at {vtable}')

    def _field(self, i):
        off = 4 + 2 * i
        return self.buf.get('H', self.vtable + off) if off < self.vsize else 0

    def scalar(self, i, fmt, default=0):
        o = self._field(i)
        return self.buf.get(fmt, self.pos + o) if o else default

    def _indirect(self, i):
        o = self._field(i)
        if not o:
            return None
        return self.pos + o + self.buf.get('I', self.pos + o)

    def table(self, i):
        p = self._indirect(i)
        return _Table(self.buf, p) if p is not None else None

    def vector(self, i):
        """(start, length) of a vector field, or (0, 0)."""
        p = self._indirect(i)
        if p is None:
            return 0, 0
        n = self.buf.get('I', p)
        if p + 4 + n > len(self.buf.data) + 0 and n > len(self.buf.data):
            raise ConvertError(f'{self.buf.what}: vector length {n} exceeds the file')
        return p + 4, n

    def tables(self, i):
        start, n = self.vector(i)
        return [_Table(self.buf, start + 4 * k + self.buf.get('I', start + 4 * k)) for k in range(n)]

    def scalars(self, i, fmt):
        start, n = self.vector(i)
        size = struct.calcsize('<' + fmt)
        if n and start + n * size > len(self.buf.data):
            raise ConvertError(f'{self.buf.what}: a vector runs past the end of the file')
        return list(struct.unpack_from(f'<{n}{fmt}', self.buf.data, start)) if n else []

    def bytes(self, i):
        start, n = self.vector(i)
        if start + n > len(self.buf.data):
            raise ConvertError(f'{self.buf.what}: a buffer runs past the end of the file')
        return self.buf.data[start:start + n]

    def string(self, i):
        return self.bytes(i).decode('utf-8', 'replace') if self._field(i) else None


def read_tflite(path):
    """Returns (tensors, graph): tensors {name: (dtype, shape, array)} for constant tensors, and the graph
    description {description, inputs, outputs, shapes, ops} with tensors referred to by name."""
    what = str(path)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise ConvertError(f'{what}: cannot read: {e.strerror}')
    if len(data) < 8 or data[4:8] != b'TFL3':
        raise ConvertError(f'{what}: not a TensorFlow Lite model (no TFL3 identifier)')
    buf = _Buf(data, what)
    model = _Table(buf, buf.get('I', 0))
    version = model.scalar(0, 'I')
    if version != 3:
        raise ConvertError(f'{what}: unsupported TFLite schema version {version}')
    codes = []
    for oc in model.tables(1):
        code = max(oc.scalar(0, 'b'), oc.scalar(3, 'i'))
        if code not in BUILTIN_OPS:
            raise ConvertError(f'{what}: unsupported operator code {code}')
        codes.append(BUILTIN_OPS[code])
    subgraphs = model.tables(2)
    if len(subgraphs) != 1:
        raise ConvertError(f'{what}: expected 1 subgraph, found {len(subgraphs)}')
    buffers = model.tables(4)
    sg = subgraphs[0]
    names, shapes, tensors = [], {}, {}
    for t in sg.tables(0):
        name, shape, ttype, bidx = t.string(3), t.scalars(0, 'i'), t.scalar(1, 'b'), t.scalar(2, 'I')
        if name is None or name in shapes:
            raise ConvertError(f'{what}: tensor without a unique name ({name!r})')
        if ttype not in TENSOR_TYPES:
            raise ConvertError(f'{what}: tensor {name} has unsupported type {ttype}')
        if t.table(4) is not None and t.table(4).scalars(2, 'f'):
            raise ConvertError(f'{what}: tensor {name} is quantized; only float32 models are supported')
        names.append(name)
        shapes[name] = shape
        if bidx >= len(buffers):
            raise ConvertError(f'{what}: tensor {name} names buffer {bidx} of {len(buffers)}')
        raw = buffers[bidx].bytes(0) if bidx else b''
        if raw:
            dtype, size, code = TENSOR_TYPES[ttype]
            numel = 1
            for d in shape:
                numel *= d
            if len(raw) != numel * size:
                raise ConvertError(f'{what}: tensor {name} has {len(raw)} bytes for shape {shape}')
            values = array.array(code)
            values.frombytes(raw)
            if sys.byteorder != 'little':
                values.byteswap()
            tensors[name] = (dtype, shape, values)
    ops = []
    for op in sg.tables(3):
        idx = op.scalar(0, 'I')
        if idx >= len(codes):
            raise ConvertError(f'{what}: operator names code {idx} of {len(codes)}')
        kind = codes[idx]
        ins, outs = op.scalars(1, 'i'), op.scalars(2, 'i')
        if any(i >= len(names) for i in ins + outs) or any(i < -1 for i in ins + outs):
            raise ConvertError(f'{what}: operator {len(ops)} refers to a missing tensor')
        entry = {'op': kind, 'inputs': [names[i] if i >= 0 else None for i in ins], 'outputs': [names[i] for i in outs]}
        spec = OPTIONS.get(kind)
        if spec:
            opts = op.table(4)
            entry['options'] = {}
            for field, (key, fmt, decode) in enumerate(spec):
                v = opts.scalar(field, fmt, None) if opts else None
                v = OPTION_DEFAULTS[key] if v is None else (decode.get(v, v) if decode else v)
                entry['options'][key] = v
        ops.append(entry)
    graph = {'description': model.string(3), 'inputs': [names[i] for i in sg.scalars(1, 'i')],
             'outputs': [names[i] for i in sg.scalars(2, 'i')], 'shapes': shapes, 'ops': ops}
    return tensors, graph
