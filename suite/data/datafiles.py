"""Readers for the real datasets' file formats, and the integrity checks of what they return.

Formats (see ``docs/DATA.md``):

- IDX (MNIST): magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
  values big-endian, row-major; gzipped or not (recognized by the gzip magic ``1f 8b``).
- ``.npy`` arrays (the P-VAE layouts), read without pickles.
- ``.amat`` (binarized MNIST): plain text, one image per line, 784 space-separated 0/1 values;
  or a MATLAB v5 MAT file of the same name holding the uint8 (N, 784) variable ``X``.
- ``.iml`` / ``.imc`` (van Hateren): headerless big-endian uint16, 1536 x 1024 pixels
  (1024 rows of 1536 columns); TIFF / PNG / JPEG images are read too.
- CIFAR-10 python batches: pickled dicts, read with an unpickler that only builds arrays.

Every reader raises :class:`DataError` naming the file and what is wrong with it (truncated,
wrong magic number, wrong shape). :func:`as_images` and :func:`as_labels` check the arrays
(dtype, shape, NaN, value range, label count and range) and return them in the suite's layout.
"""
from __future__ import annotations

import codecs
import gzip
import io
import math
import pickle
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
VANHATEREN_SHAPE = (1024, 1536)  # rows, columns of an .iml/.imc image
RAW_IMAGE_SUFFIXES = (".iml", ".imc")
IMAGE_SUFFIXES = RAW_IMAGE_SUFFIXES + (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def read_bytes_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, decompressed when they start with the gzip magic number."""
    raw = Path(path).read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: the gzip stream is truncated (the file is incomplete); "
                        "get the file again") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc}); get the file again") from None


def read_idx(path: Path, magic: int | None = None) -> np.ndarray:
    """An IDX file (gzipped or not) as a native-endian array of the shape in its header.

    magic: the 4-byte magic number the file must start with (e.g. 0x803 for MNIST's uint8
    images of 3 dimensions, 0x801 for its labels), or None for any valid IDX header.
    """
    data = read_bytes_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file: its magic number is {data[:4].hex(' ') or 'empty'}, "
                        f"expected 00 00 <type in {sorted(hex(t) for t in IDX_TYPES)}> <ndim>")
    if magic is not None and int.from_bytes(data[:4], "big") != magic:
        raise DataError(f"{path}: wrong magic number 0x{data[:4].hex()}, expected 0x{magic:08x} "
                        f"({IDX_TYPES[magic >> 8 & 0xFF]} values in {magic & 0xFF} dimensions)")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise DataError(f"{path}: IDX file {what}: the header announces shape {dims} "
                        f"({expected} bytes of data), the file holds {found} bytes")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``)."""
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    a = np.asarray(array)
    if a.dtype.newbyteorder("=") not in codes:
        raise DataError(f"IDX cannot store dtype {a.dtype}; use one of {sorted(map(str, codes))}")
    code = codes[a.dtype.newbyteorder("=")]
    payload = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
               + a.astype(IDX_TYPES[code]).tobytes())
    Path(path).write_bytes(gzip.compress(payload, mtime=0) if str(path).endswith(".gz") else payload)


def read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array (no pickled objects), with a clear error for truncated files."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npy array (truncated or corrupt?): {exc}") from None


def read_amat(path: Path, n_cols: int = 784) -> np.ndarray:
    """A binarized-MNIST ``.amat`` file, text or MAT, as uint8 (N, n_cols) of 0/1."""
    with open(path, "rb") as fh:
        is_mat = fh.read(6) == b"MATLAB"  # a MAT file's text header; the .amat text starts with 0/1
    x = _read_mat_x(path) if is_mat else _parse_binary_text(path, Path(path).read_bytes(), n_cols)
    if x.ndim != 2 or x.shape[1] != n_cols:
        raise DataError(f"{path}: expected rows of {n_cols} values, got an array of shape {x.shape}")
    if not ((x == 0) | (x == 1)).all():
        raise DataError(f"{path}: values must be 0 or 1, found {np.unique(x)[:10].tolist()}")
    return x.astype(np.uint8)


def _read_mat_x(path: Path) -> np.ndarray:
    import scipy.io

    try:
        variables = scipy.io.loadmat(path)
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; save it with "
                        "`save(..., '-v7')` or use the original text .amat") from None
    except (ValueError, OSError, TypeError) as exc:
        raise DataError(f"{path}: not a readable MAT file (truncated or corrupt?): {exc}") from None
    if "X" not in variables:
        names = sorted(k for k in variables if not k.startswith("__"))
        raise DataError(f"{path}: the MAT file has no variable 'X' (it has {names})")
    x = np.asarray(variables["X"])
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: variable 'X' must be numeric, got dtype {x.dtype}")
    return x


def _parse_binary_text(path: Path, raw: bytes, n_cols: int) -> np.ndarray:
    """Rows of single-character 0/1 tokens separated by spaces or tabs, one row per line."""
    b = np.frombuffer(raw, np.uint8)
    digit = (b == ord("0")) | (b == ord("1"))
    allowed = digit | (b == ord(" ")) | (b == ord("\t")) | (b == ord("\n")) | (b == ord("\r"))
    glued = digit[1:] & digit[:-1]  # two digits in a row: a token other than 0 or 1
    if not allowed.all() or glued.any():
        i = min(np.flatnonzero(~allowed)[:1].tolist() + (np.flatnonzero(glued)[:1] + 1).tolist())
        line = raw.count(b"\n", 0, i) + 1
        raise DataError(f"{path}: line {line}: unexpected {raw[max(i - 1, 0):i + 1]!r}; expected "
                        "0/1 values separated by spaces (is this the binarized-MNIST .amat?)")
    starts = np.r_[0, np.flatnonzero(b == ord("\n")) + 1]
    starts = starts[starts < len(b)]  # a final newline starts no line
    per_line = (np.add.reduceat(digit.view(np.uint8), starts, dtype=np.int32) if len(b)
                else np.zeros(0, np.int32))
    wrong = np.flatnonzero((per_line != n_cols) & (per_line != 0))
    if wrong.size:
        line = int(wrong[0]) + 1
        raise DataError(f"{path}: line {line} has {per_line[line - 1]} values, expected {n_cols} "
                        "(the file is truncated or malformed)")
    return (b[digit] - ord("0")).reshape(-1, n_cols)


def read_raw_image(path: Path, shape: tuple[int, int] = VANHATEREN_SHAPE) -> np.ndarray:
    """A headerless big-endian uint16 image (van Hateren ``.iml``/``.imc``) as uint16 ``shape``."""
    _check_raw_size(path, shape)
    return np.fromfile(path, ">u2").reshape(shape).astype(np.uint16)


def _check_raw_size(path: Path, shape: tuple[int, int]) -> None:
    size, expected = Path(path).stat().st_size, 2 * math.prod(shape)
    if size != expected:
        raise DataError(f"{path}: {size} bytes, expected {expected} (a headerless big-endian uint16 "
                        f"image of {shape[1]}x{shape[0]} pixels); the file is truncated or not a "
                        "van Hateren .iml/.imc image")


def write_raw_image(path: Path, image: np.ndarray) -> None:
    """Write a uint16 image as headerless big-endian uint16 (the ``.iml`` layout)."""
    Path(path).write_bytes(np.asarray(image, np.uint16).astype(">u2").tobytes())


def read_image(path: Path) -> np.ndarray:
    """An image file: ``.iml``/``.imc`` raw, TIFF (tifffile), PNG/JPEG (Pillow)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in RAW_IMAGE_SUFFIXES:
        return read_raw_image(path)
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            return tifffile.imread(path)
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im)
    except Exception as exc:  # the image libraries raise many types for a corrupt file
        raise DataError(f"{path}: cannot read the image: {type(exc).__name__}: {exc}") from None


def image_size(path: Path) -> tuple[int, int]:
    """(rows, columns) of an image file, read from its header where the format has one."""
    path = Path(path)
    if path.suffix.lower() in RAW_IMAGE_SUFFIXES:
        _check_raw_size(path, VANHATEREN_SHAPE)  # the format fixes the size
        return VANHATEREN_SHAPE
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: cannot read the image header: {exc}") from None
    return h, w


def find_images(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursively), sorted by path."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class _ArrayUnpickler(pickle.Unpickler):
    """Builds only numpy arrays, dtypes and plain containers: a pickle cannot run code."""

    ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode}
    for core in ("core", "_core"):  # numpy 1 and numpy 2 module names
        ALLOWED[f"numpy.{core}.multiarray", "_reconstruct"] = np.zeros(0).__reduce__()[0]
        ALLOWED[f"numpy.{core}.numeric", "_frombuffer"] = np.zeros(1).__reduce_ex__(5)[0]
    del core

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[module, name]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def read_cifar_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 python batch: (images uint8 (N, 32, 32, 3), labels int64 (N,))."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{where}: not a CIFAR-10 python batch (truncated or corrupt?): {exc}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: not a CIFAR-10 python batch (no b'data' / b'labels' entries)")
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: expected uint8 data of shape (N, 3072), got {data.dtype} {data.shape}")
    labels = as_labels(np.asarray(batch[b"labels"]), what=where, n=len(data), n_classes=10)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


# -- integrity checks -----------------------------------------------------------------------
def as_images(arr: np.ndarray, *, what: str, shape: tuple[int, ...],
              value_range: tuple[float, float] | None = None) -> np.ndarray:
    """(N, prod(shape)) float32 from images stored as (N, *shape), (N, H, W) or (N, D).

    what: names the data in errors (dataset and file); shape: (C, H, W) per image;
    value_range: inclusive bounds every value must lie in, or None for any finite value.
    """
    arr = np.asarray(arr)
    dim = math.prod(shape)
    accepted = {tuple(shape), (dim,)} | ({tuple(shape[1:])} if shape[0] == 1 else set())
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what}: expected numeric pixels, got dtype {arr.dtype}")
    if arr.ndim < 2 or tuple(arr.shape[1:]) not in accepted:
        forms = ", ".join(str(("N",) + s).replace("'", "") for s in sorted(accepted, key=len, reverse=True))
        raise DataError(f"{what}: expected images of shape {forms}, got {arr.shape}")
    if arr.shape[0] == 0:
        raise DataError(f"{what}: holds no images")
    x = arr.reshape(arr.shape[0], dim)
    if x.dtype.kind == "f":
        with np.errstate(over="ignore"):  # float64 beyond float32's range: inf, caught below
            x = x.astype(np.float32)
        finite = np.isfinite(x)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            raise DataError(f"{what}: {int((~finite).sum())} NaN or infinite values "
                            f"(the first in image {bad[0]}, pixel {bad[1]})")
    if value_range is not None:
        lo, hi = value_range
        mn, mx = x.min().item(), x.max().item()
        if mn < lo or mx > hi:
            raise DataError(f"{what}: values must lie in [{lo:g}, {hi:g}], found [{mn:g}, {mx:g}]")
    return x.astype(np.float32, copy=False)


def as_labels(arr: np.ndarray, *, what: str, n: int, n_classes: int) -> np.ndarray:
    """(n,) int64 class labels in [0, n_classes) from (n,) or (n, 1) integers (or whole floats)."""
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{what}: labels must be a vector, got shape {arr.shape}")
    if len(arr) != n:
        raise DataError(f"{what}: labels do not match the images: {n} images but {len(arr)} labels")
    if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr))):
        raise DataError(f"{what}: labels must be whole numbers, got dtype {arr.dtype}")
    y = arr.astype(np.int64)
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{what}: labels must lie in 0..{n_classes - 1}, found {y.min()}..{y.max()}")
    return y
