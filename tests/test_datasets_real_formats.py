"""File-format readers of the real datasets and the integrity checks: round trips on small
generated files, and a clear DataError for every kind of damage (truncation, wrong magic number,
wrong shape, NaN, values out of range, labels that do not match the images)."""
from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
import scipy.io

from suite.data.datafiles import (IMAGE_SUFFIXES, as_images, as_labels, find_images, image_size,
                             read_amat, read_cifar_batch, read_idx, read_image, read_npy,
                             read_raw_image, write_idx, write_raw_image)
from suite.errors import DataError

RNG = np.random.default_rng(0)


def amat_text(x: np.ndarray) -> bytes:
    return "".join(" ".join(map(str, row)) + "\n" for row in x).encode()


# -- IDX ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype,shape", [(np.uint8, (5, 28, 28)), (np.uint8, (7,)),
                                         (np.int16, (3, 4)), (np.float32, (2, 3, 4)), (np.float64, (6,))])
def test_idx_round_trip(tmp_path, suffix, dtype, shape):
    a = (RNG.random(shape) * 100).astype(dtype)
    path = tmp_path / f"x-idx{suffix}"
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    b = read_idx(path)
    assert b.shape == shape and b.dtype == np.dtype(dtype) and np.array_equal(a, b)


def test_idx_header_is_the_published_layout(tmp_path):
    write_idx(tmp_path / "l", np.array([3, 1, 4], np.uint8))
    assert (tmp_path / "l").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])
    assert read_idx(tmp_path / "l", magic=0x801).tolist() == [3, 1, 4]
    with pytest.raises(DataError, match=r"wrong magic number 0x00000801, expected 0x00000803 "
                                        r"\(uint8 values in 3 dimensions\)"):
        read_idx(tmp_path / "l", magic=0x803)


@pytest.mark.parametrize("damage,message", [
    (lambda raw: raw[:-10], "truncated"),
    (lambda raw: raw + b"\0" * 3, "longer than its header says"),
    (lambda raw: b"\x00\x01" + raw[2:], "not an IDX file"),
    (lambda raw: b"\x00\x00\x07" + raw[3:], "not an IDX file"),
    (lambda raw: raw[:6], "truncated IDX header"),
    (lambda raw: b"", "not an IDX file"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_damage_is_reported(tmp_path, damage, message, gz):
    write_idx(tmp_path / "x", np.zeros((4, 28, 28), np.uint8))
    raw = damage((tmp_path / "x").read_bytes())
    path = tmp_path / "bad"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_truncated_gzip_is_reported(tmp_path):
    write_idx(tmp_path / "x.gz", RNG.integers(0, 255, (50, 28, 28)).astype(np.uint8))
    raw = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="gzip stream is truncated"):
        read_idx(tmp_path / "cut.gz")


# -- .npy ----------------------------------------------------------------------------------------
def test_npy_truncated_and_pickled_are_rejected(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((100, 16, 16), np.float32))
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-100])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_npy(tmp_path / "cut.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="cut.npy|obj.npy"):
        read_npy(tmp_path / "obj.npy")
    assert read_npy(tmp_path / "a.npy").shape == (100, 16, 16)


# -- .amat: text and MAT ---------------------------------------------------------------------------
def test_amat_text_and_mat_give_the_same_rows(tmp_path):
    x = RNG.integers(0, 2, (9, 784)).astype(np.uint8)
    (tmp_path / "t.amat").write_bytes(amat_text(x))
    scipy.io.savemat(tmp_path / "m.amat", {"X": x})
    assert (tmp_path / "m.amat").read_bytes()[:6] == b"MATLAB"
    for name in ("t.amat", "m.amat"):
        y = read_amat(tmp_path / name)
        assert y.dtype == np.uint8 and np.array_equal(x, y)


def test_amat_text_accepts_crlf_tabs_and_no_final_newline(tmp_path):
    (tmp_path / "a.amat").write_bytes(b"0\t1 1\r\n1 0  0\n\n0 0 1")
    assert read_amat(tmp_path / "a.amat", 3).tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 1]]


@pytest.mark.parametrize("text,message", [
    (b"0 1 1\n1 0\n", "line 2 has 2 values, expected 3"),
    (b"0 1 1\n1 0 1 1\n", "line 2 has 4 values"),
    (b"0 1 2\n", "line 1: unexpected"),
    (b"0 1 1\n0 10 1\n", "line 2: unexpected b'10'"),
    (b"0 0.5 1\n", "line 1: unexpected"),
    (b"0 1 nan\n", "line 1: unexpected"),
])
def test_amat_text_damage(tmp_path, text, message):
    (tmp_path / "a.amat").write_bytes(text)
    with pytest.raises(DataError, match=message):
        read_amat(tmp_path / "a.amat", 3)


def test_amat_mat_damage(tmp_path):
    scipy.io.savemat(tmp_path / "noX.amat", {"Y": np.zeros((2, 784), np.uint8)})
    with pytest.raises(DataError, match=r"no variable 'X' \(it has \['Y'\]\)"):
        read_amat(tmp_path / "noX.amat")
    scipy.io.savemat(tmp_path / "shape.amat", {"X": np.zeros((2, 783), np.uint8)})
    with pytest.raises(DataError, match=r"rows of 784 values.*\(2, 783\)"):
        read_amat(tmp_path / "shape.amat")
    scipy.io.savemat(tmp_path / "gray.amat", {"X": np.full((2, 784), 0.5)})
    with pytest.raises(DataError, match="must be 0 or 1"):
        read_amat(tmp_path / "gray.amat")
    scipy.io.savemat(tmp_path / "ok.amat", {"X": np.zeros((200, 784), np.uint8)})
    raw = (tmp_path / "ok.amat").read_bytes()
    (tmp_path / "cut.amat").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="cut.amat"):
        read_amat(tmp_path / "cut.amat")


# -- van Hateren raw images and other image files ----------------------------------------------------
def test_iml_round_trip_is_big_endian(tmp_path):
    img = RNG.integers(0, 65535, (1024, 1536)).astype(np.uint16)
    write_raw_image(tmp_path / "a.iml", img)
    raw = (tmp_path / "a.iml").read_bytes()
    assert len(raw) == 1536 * 1024 * 2 and raw[:2] == int(img[0, 0]).to_bytes(2, "big")
    assert np.array_equal(read_raw_image(tmp_path / "a.iml"), img)
    assert image_size(tmp_path / "a.iml") == (1024, 1536)


def test_iml_of_the_wrong_size_is_rejected(tmp_path):
    (tmp_path / "cut.imc").write_bytes(b"\0" * (1536 * 1024 * 2 - 2))
    for read in (read_image, image_size):
        with pytest.raises(DataError, match=r"3145726 bytes, expected 3145728 .*truncated"):
            read(tmp_path / "cut.imc")


def test_png_and_tiff_are_read_with_their_size(tmp_path):
    import tifffile
    from PIL import Image

    g = RNG.integers(0, 255, (20, 30)).astype(np.uint8)
    Image.fromarray(g).save(tmp_path / "g.png")
    (tmp_path / "sub").mkdir()
    tifffile.imwrite(tmp_path / "sub" / "t.tif", g.astype(np.uint16) * 100)
    (tmp_path / "notes.txt").write_text("not an image")
    found = find_images(tmp_path)
    assert [p.name for p in found] == ["g.png", "t.tif"]
    assert np.array_equal(read_image(found[0]), g) and image_size(found[0]) == (20, 30)
    assert np.array_equal(read_image(found[1]), g.astype(np.uint16) * 100) and image_size(found[1]) == (20, 30)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(DataError, match="bad.png"):
        image_size(tmp_path / "bad.png")
    assert ".iml" in IMAGE_SUFFIXES and ".imc" in IMAGE_SUFFIXES


# -- CIFAR-10 python batches ----------------------------------------------------------------------
def cifar_batch(n: int, seed: int) -> bytes:
    r = np.random.default_rng(seed)
    return pickle.dumps({b"batch_label": b"x", b"labels": r.integers(0, 10, n).tolist(),
                         b"data": r.integers(0, 255, (n, 3072)).astype(np.uint8),
                         b"filenames": [b"f.png"] * n}, protocol=2)


def test_cifar_batch_layout():
    raw = cifar_batch(4, 1)
    d = pickle.loads(raw, encoding="bytes")
    images, labels = read_cifar_batch(raw, "batch")
    assert images.shape == (4, 32, 32, 3) and labels.dtype == np.int64
    # the channel planes (R, G, B of 1024 row-major pixels each) become the last axis
    assert np.array_equal(images[2, 5, 7], d[b"data"][2, [5 * 32 + 7, 1024 + 5 * 32 + 7, 2048 + 5 * 32 + 7]])
    assert labels.tolist() == d[b"labels"]


def test_cifar_batch_refuses_code_and_damage():
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo unsafe",))

    with pytest.raises(DataError, match="refusing to load"):
        read_cifar_batch(pickle.dumps({b"data": Payload(), b"labels": []}), "evil")
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_cifar_batch(cifar_batch(4, 1)[:-50], "cut")
    bad = pickle.dumps({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match=r"shape \(N, 3072\)"):
        read_cifar_batch(bad, "shape")
    bad = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]})
    with pytest.raises(DataError, match="2 images but 3 labels"):
        read_cifar_batch(bad, "labels")


# -- integrity checks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("stored", [(5, 1, 16, 16), (5, 16, 16), (5, 256)])
def test_as_images_accepts_the_usual_shapes(stored):
    a = RNG.normal(size=stored)
    x = as_images(a, what="t", shape=(1, 16, 16))
    assert x.shape == (5, 256) and x.dtype == np.float32 and np.allclose(x, a.reshape(5, 256))


@pytest.mark.parametrize("a,kw,message", [
    (np.zeros((5, 16, 15)), {}, r"expected images of shape \(N, 1, 16, 16\), \(N, 16, 16\) or|got \(5, 16, 15\)"),
    (np.zeros((5, 2, 16, 16)), {}, r"got \(5, 2, 16, 16\)"),
    (np.zeros(256), {}, "expected images of shape"),
    (np.zeros((0, 256)), {}, "holds no images"),
    (np.array([["a"] * 256]), {}, "expected numeric pixels"),
    (np.where(np.eye(256)[:3] > 0, np.nan, 0.0), {}, r"3 NaN or infinite values \(the first in image 0, pixel 0\)"),
    (np.full((2, 256), 1e300), {}, "NaN or infinite"),
    (np.full((2, 256), 1.5), {"value_range": (0, 1)}, r"must lie in \[0, 1\], found \[1.5, 1.5\]"),
    (np.full((2, 256), 256, np.int32), {"value_range": (0, 255)}, r"must lie in \[0, 255\]"),
])
def test_as_images_rejects(a, kw, message):
    with pytest.raises(DataError, match=message) as err:
        as_images(a, what="MNIST file.npy", shape=(1, 16, 16), **kw)
    assert "MNIST file.npy" in str(err.value)


def test_as_labels():
    assert as_labels(np.array([[1], [2]], np.uint8), what="y", n=2, n_classes=10).tolist() == [1, 2]
    y = as_labels(np.array([3.0, 9.0]), what="y", n=2, n_classes=10)
    assert y.dtype == np.int64 and y.tolist() == [3, 9]
    for arr, n, message in [(np.arange(3), 4, "4 images but 3 labels"),
                            (np.array([0.5, 1.0]), 2, "whole numbers"),
                            (np.array([0, 10]), 2, r"0\.\.9, found 0\.\.10"),
                            (np.array([-1, 2]), 2, "0..9"),
                            (np.zeros((2, 2)), 2, "must be a vector")]:
        with pytest.raises(DataError, match=message):
            as_labels(arr, what="y", n=n, n_classes=10)
