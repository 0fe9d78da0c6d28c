"""Reads PyTorch checkpoints (legacy pickle and zip serialization) without torch.

Only what a state_dict contains is accepted: an allowlist of pickle opcodes, an allowlist of globals
(OrderedDict, _rebuild_tensor_v2, typed storages), and persistent ids that name storages. Nothing from
the file is ever called; every global is replaced by a local stand-in.
"""
import array
import io
import pickle
import pickletools
import struct
import sys
import zipfile
import zlib

from errors import ConvertError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# (dtype name in safetensors, element size, array typecode)
STORAGE_TYPES = {
    'FloatStorage': ('F32', 4, 'f'),
    'DoubleStorage': ('F64', 8, 'd'),
    'LongStorage': ('I64', 8, 'q'),
    'IntStorage': ('I32', 4, 'i'),
}

# Opcodes a state_dict pickle uses; INST, OBJ, NEWOBJ, EXT* and friends are refused outright.
ALLOWED_OPCODES = {
    'PROTO', 'STOP', 'MARK', 'EMPTY_DICT', 'EMPTY_TUPLE', 'EMPTY_LIST', 'TUPLE', 'TUPLE1', 'TUPLE2', 'TUPLE3',
    'LIST', 'APPEND', 'APPENDS', 'DICT', 'SETITEM', 'SETITEMS', 'BINPUT', 'LONG_BINPUT', 'BINGET', 'LONG_BINGET',
    'PUT', 'GET', 'MEMOIZE', 'FRAME', 'BININT', 'BININT1', 'BININT2', 'INT', 'LONG', 'LONG1', 'LONG4', 'BINFLOAT',
    'NONE', 'NEWTRUE', 'NEWFALSE', 'BINUNICODE', 'SHORT_BINUNICODE', 'BINUNICODE8', 'UNICODE', 'SHORT_BINSTRING',
    'BINSTRING', 'STRING', 'GLOBAL', 'STACK_GLOBAL', 'REDUCE', 'BUILD', 'BINPERSID', 'PERSID',
}


class StorageRef:
    """A storage named by a persistent id; its bytes are attached once the file has been read."""

    def __init__(self, type_name, key, numel):
        self.type_name, self.key, self.numel = type_name, key, numel
        self.dtype, self.elsize, self.typecode = STORAGE_TYPES[type_name]
        self.data = None  # bytes, set later


class TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class StateDict(dict):
    """Stand-in for collections.OrderedDict (dicts keep insertion order); accepts the _metadata BUILD."""

    def __setstate__(self, state):
        pass


class _StorageType:
    def __init__(self, name):
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, *unused):
    if not isinstance(storage, StorageRef):
        raise ConvertError('a tensor is built from something that is not a storage')
    if not all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride)) or len(size) != len(stride):
        raise ConvertError('a tensor has an invalid offset, shape or stride')
    return TensorRef(storage, offset, size, stride)


_ALLOWED_GLOBALS = {
    ('collections', 'OrderedDict'): StateDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
}
for _name in STORAGE_TYPES:
    _ALLOWED_GLOBALS[('torch', _name)] = _StorageType(_name)


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data, what):
        super().__init__(io.BytesIO(data))
        self.what = what
        self.storages = {}

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ConvertError(f'{self.what}: refused global {module}.{name} (only state_dict contents are allowed)')

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == 'storage' and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str) and isinstance(pid[4], int) and pid[4] >= 0):
            raise ConvertError(f'{self.what}: unexpected persistent id {pid!r:.80}')
        key = pid[2]
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = StorageRef(pid[1].name, key, pid[4])
        elif ref.type_name != pid[1].name or ref.numel != pid[4]:
            raise ConvertError(f'{self.what}: storage {key} is declared twice with different types or sizes')
        return ref


MEMO_OPCODES = {'PUT', 'BINPUT', 'LONG_BINPUT', 'GET', 'BINGET', 'LONG_BINGET'}
MAX_MEMO_INDEX = 1 << 20  # a state_dict of thousands of tensors memoises a few tens of thousands of objects


def _pickle_length(data, start, what):
    """Checks every opcode of the pickle that starts at data[start:] and returns its length."""
    stream = io.BytesIO(data)
    stream.seek(start)
    try:
        for op, arg, _pos in pickletools.genops(stream):
            if op.name not in ALLOWED_OPCODES:
                raise ConvertError(f'{what}: unexpected pickle opcode {op.name} at byte {stream.tell()}')
            # the C unpickler grows its memo to the largest index it is given: LONG_BINPUT 829,000,000
            # allocated 6.6 GB (found by the mutation test)
            if op.name in MEMO_OPCODES and not 0 <= int(arg) < MAX_MEMO_INDEX:
                raise ConvertError(f'{what}: pickle memo index {arg} out of range at byte {stream.tell()}')
            if op.name == 'STOP':
                return stream.tell() - start
    except ConvertError:
        raise
    except Exception as e:  # genops raises ValueError on truncated or unknown opcodes
        raise ConvertError(f'{what}: malformed pickle at byte {stream.tell()}: {e}')
    raise ConvertError(f'{what}: pickle ends without STOP (truncated file)')


def _unpickle(data, start, what):
    length = _pickle_length(data, start, what)
    up = RestrictedUnpickler(data[start:start + length], what)
    try:
        obj = up.load()
    except ConvertError:
        raise
    except Exception as e:
        raise ConvertError(f'{what}: cannot unpickle: {e}')
    return obj, up.storages, start + length


def _tensor_values(name, t, what):
    """Returns the tensor's values in row-major order as an array.array, applying its strides."""
    st = t.storage
    numel = 1
    for d in t.size:
        numel *= d
    if numel == 0:
        return array.array(st.typecode)
    last = t.offset + sum((d - 1) * s for d, s in zip(t.size, t.stride))
    if last >= st.numel:
        raise ConvertError(f'{what}: tensor {name} reaches element {last} of a storage of {st.numel}')
    values = array.array(st.typecode)
    values.frombytes(st.data)
    if sys.byteorder != 'little':
        values.byteswap()
    contiguous = []
    acc = 1
    for d in reversed(t.size):
        contiguous.insert(0, acc)
        acc *= d
    if all(d == 1 or s == c for d, s, c in zip(t.size, t.stride, contiguous)):
        return values[t.offset:t.offset + numel]
    out = array.array(st.typecode)

    def gather(dim, base):
        n, s = t.size[dim], t.stride[dim]
        if dim == len(t.size) - 1:
            out.extend(values[base:base + (n - 1) * s + 1:s] if s else array.array(st.typecode, [values[base]] * n))
        else:
            for i in range(n):
                gather(dim + 1, base + i * s)

    gather(0, t.offset)
    return out


def _collect(obj, storages, what):
    if not isinstance(obj, dict):
        raise ConvertError(f'{what}: the checkpoint is not a state_dict')
    tensors = {}
    for name, t in obj.items():
        if not isinstance(name, str) or not isinstance(t, TensorRef):
            raise ConvertError(f'{what}: entry {name!r:.60} is not a named tensor')
        if t.storage.data is None:
            raise ConvertError(f'{what}: tensor {name} has no storage data')
        tensors[name] = (t.storage.dtype, list(t.size), _tensor_values(name, t, what))
    return tensors


def _read_legacy(data, what):
    magic, _, pos = _unpickle(data, 0, what)
    if magic != LEGACY_MAGIC:
        raise ConvertError(f'{what}: not a PyTorch checkpoint (bad magic number)')
    protocol, _, pos = _unpickle(data, pos, what)
    if protocol != LEGACY_PROTOCOL:
        raise ConvertError(f'{what}: unsupported legacy protocol {protocol!r:.40}')
    sys_info, _, pos = _unpickle(data, pos, what)
    if not isinstance(sys_info, dict) or not sys_info.get('little_endian', False):
        raise ConvertError(f'{what}: only little-endian checkpoints are supported')
    obj, storages, pos = _unpickle(data, pos, what)
    keys, _, pos = _unpickle(data, pos, what)
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise ConvertError(f'{what}: the storage key list does not match the storages the tensors use')
    for key in keys:
        st = storages[key]
        if pos + 8 > len(data):
            raise ConvertError(f'{what}: truncated before storage {key}')
        (numel,) = struct.unpack_from('<q', data, pos)
        if numel != st.numel:
            raise ConvertError(f'{what}: storage {key} holds {numel} elements, the pickle says {st.numel}')
        pos += 8
        nbytes = numel * st.elsize
        if pos + nbytes > len(data):
            raise ConvertError(f'{what}: truncated inside storage {key} ({len(data) - pos} of {nbytes} bytes)')
        st.data = data[pos:pos + nbytes]
        pos += nbytes
    if pos != len(data):
        raise ConvertError(f'{what}: {len(data) - pos} unexpected bytes after the last storage')
    return _collect(obj, storages, what)


def _read_zip(path, what):
    try:
        z = zipfile.ZipFile(path)
        names = z.namelist()
        pkl = [n for n in names if n.endswith('/data.pkl') and n.count('/') == 1]
        if len(pkl) != 1:
            raise ConvertError(f'{what}: zip checkpoint without a single <name>/data.pkl')
        prefix = pkl[0][:-len('data.pkl')]
        data = z.read(pkl[0])
        obj, storages, end = _unpickle(data, 0, what)
        if end != len(data):
            raise ConvertError(f'{what}: unexpected bytes after the pickle in data.pkl')
        for key, st in storages.items():
            member = f'{prefix}data/{key}'
            if member not in names:
                raise ConvertError(f'{what}: storage {key} missing from the archive')
            raw = z.read(member)
            if len(raw) != st.numel * st.elsize:
                raise ConvertError(f'{what}: storage {key} has {len(raw)} bytes, expected {st.numel * st.elsize}')
            st.data = raw
    except ConvertError:
        raise
    # what zipfile raises on a damaged archive: bad member names (UnicodeDecodeError is a ValueError),
    # unsupported compression or encryption, zlib and struct errors, absurd sizes
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, ValueError, NotImplementedError,
            RuntimeError, zlib.error, struct.error, OverflowError, MemoryError) as e:
        raise ConvertError(f'{what}: broken zip archive: {type(e).__name__}: {e}')
    return _collect(obj, storages, what)


def read_checkpoint(path):
    """Returns {name: (dtype, shape, array)} in the checkpoint's own order."""
    what = str(path)
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError as e:
        raise ConvertError(f'{what}: cannot read: {e.strerror}')
    if head == b'PK\x03\x04':
        return _read_zip(path, what)
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 2 or data[0] != 0x80:
        raise ConvertError(f'{what}: not a PyTorch checkpoint (neither zip nor pickle)')
    return _read_legacy(data, what)
