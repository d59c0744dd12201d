#!/usr/bin/python3
"""Writes the data files tests/data/test_array_files.cpp reads, with numpy and h5py as the
independent oracle: valid .npz (np.savez, np.savez_compressed, .npy versions 2.0 and 3.0), .h5 and
CIFAR-10 batch files, each with the expected aimc layout beside it, and one file per malformed case.

    make_array_files.py OUTDIR

For each valid data set STEM: STEM.x.f32 is x as aimc must hold it (little-endian float32, one sample
per row, channel-last: numpy's transpose(0, 2, 3, 1)), STEM.y.i32 the labels (little-endian int32).
"""
import io
import os
import sys
import zipfile

import h5py
import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(20240611)


def path(name):
    return os.path.join(out, name)


def expect(stem, x, y):
    """The aimc layout of (x, y): NCHW -> NHWC rows; 2-D as is; float32; int32 labels."""
    x = np.asarray(x)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    x.reshape(x.shape[0], -1).astype("<f4").tofile(path(stem + ".x.f32"))
    np.asarray(y).astype("<i4").tofile(path(stem + ".y.i32"))


def npy_bytes(a, version=None):
    f = io.BytesIO()
    np.lib.format.write_array(f, a, version=version, allow_pickle=True)
    return f.getvalue()


def zip_members(name, members, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path(name), "w", compression=method) as z:
        for member, data in members.items():
            z.writestr(member, data)


# ------------------------------------------------------------------ valid files
x_nchw = rng.standard_normal((5, 3, 4, 6)).astype(np.float32)
y_nchw = rng.integers(0, 7, 5).astype(np.int64)
y_nchw[2] = 6  # classes = 7
np.savez(path("nchw.npz"), x=x_nchw, y=y_nchw)
expect("nchw", x_nchw, y_nchw)
np.savez_compressed(path("nchw_compressed.npz"), x=x_nchw, y=y_nchw.astype(np.int32))
expect("nchw_compressed", x_nchw, y_nchw)

x_flat = rng.standard_normal((7, 10)) * 1e3  # float64, rounded to float32 on load
y_flat = np.array([0, 3, 1, 2, 3, 0, 1], dtype=np.uint8)
np.savez(path("flat.npz"), x=x_flat, y=y_flat)
expect("flat", x_flat, y_flat)
np.savez_compressed(path("flat_compressed.npz"), y=y_flat.astype(np.int16), x=x_flat.astype(np.float32))
expect("flat_compressed", x_flat.astype(np.float32), y_flat)

# Every integer label dtype numpy writes, and .npy versions 2.0 and 3.0, in one archive each.
for dt in ["<i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8"]:
    stem = "ydtype_" + dt[1:]
    np.savez(path(stem + ".npz"), x=x_flat.astype(np.float32), y=y_flat.astype(dt))
    expect(stem, x_flat.astype(np.float32), y_flat)
zip_members("versions.npz", {"x.npy": npy_bytes(x_nchw, (2, 0)), "y.npy": npy_bytes(y_nchw, (3, 0))},
            zipfile.ZIP_DEFLATED)
expect("versions", x_nchw, y_nchw)
# Labels up to the limit, 65535 (classes = 65536).
y_max = np.array([65535, 0], dtype=np.int64)
np.savez(path("maxlabel.npz"), x=np.zeros((2, 1), np.float32), y=y_max)
expect("maxlabel", np.zeros((2, 1), np.float32), y_max)

# Large enough for several HDF5 read blocks (2^20 elements) and npz read chunks (8 MiB): one sample
# is 1064960 > 2^20 values, so blocks run over channels, not samples.
x_big = rng.standard_normal((2, 2, 520, 1024), dtype=np.float32)
y_big = np.array([1, 0], dtype=np.uint8)
np.savez(path("big.npz"), x=x_big, y=y_big)
expect("big", x_big, y_big)
with h5py.File(path("big.h5"), "w") as f:
    f.create_dataset("x", data=x_big, chunks=(1, 1, 100, 1024))
    f.create_dataset("y", data=y_big)
expect("big_h5", x_big, y_big)
# Many samples of a few features: blocks run over samples.
x_long = rng.standard_normal((110000, 10), dtype=np.float32)
y_long = rng.integers(0, 3, 110000).astype(np.int32)
with h5py.File(path("long.h5"), "w") as f:
    f.create_dataset("x", data=x_long)
    f.create_dataset("y", data=y_long)
expect("long", x_long, y_long)

with h5py.File(path("nchw.h5"), "w") as f:
    f.create_dataset("x", data=x_nchw, chunks=(2, 3, 4, 3), compression="gzip")  # 3 x 1 x 1 x 2 chunks
    f.create_dataset("y", data=y_nchw)
expect("nchw_h5", x_nchw, y_nchw)
with h5py.File(path("flat.hdf5"), "w") as f:
    f.create_dataset("x", data=x_flat.astype(">f8"))  # big-endian in HDF5: the library converts
    f.create_dataset("y", data=y_flat.astype(np.uint16))
expect("flat_h5", x_flat, y_flat)

# CIFAR-10: two records per batch file, known bytes.
os.makedirs(path("cifar"), exist_ok=True)
cifar_x, cifar_y = [], []
for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
    recs = rng.integers(0, 256, (2, 3073), dtype=np.uint8)
    recs[:, 0] = rng.integers(0, 10, 2)
    recs.tofile(path("cifar/" + name + ".bin"))
    pixels = recs[:, 1:].reshape(2, 3, 32, 32).astype(np.float32) / np.float32(255)
    if name == "test_batch":
        expect("cifar_test", pixels, recs[:, 0])
    else:
        cifar_x.append(pixels)
        cifar_y.append(recs[:, 0])
expect("cifar_train", np.concatenate(cifar_x), np.concatenate(cifar_y))
recs = rng.integers(0, 256, (2, 3073), dtype=np.uint8)
recs[:, 0] = [3, 10]
recs.tofile(path("cifar_bad_label.bin"))
recs[:, 0] = [3, 9]
with open(path("cifar_truncated.bin"), "wb") as f:
    f.write(recs.tobytes()[:-5])
open(path("cifar_empty.bin"), "wb").close()

# ------------------------------------------------------------------ malformed files
good = open(path("nchw.npz"), "rb").read()
with open(path("truncated.npz"), "wb") as f:
    f.write(good[: len(good) // 2])
with open(path("truncated_tail.npz"), "wb") as f:
    f.write(good[:-10])
with open(path("notzip.npz"), "w") as f:
    f.write("x,y\n1,2\n")
# The member is shorter than its .npy header says (the archive itself is consistent).
zip_members("short_member.npz", {"x.npy": npy_bytes(x_nchw)[:-8], "y.npy": npy_bytes(y_nchw)})
zip_members("long_member.npz", {"x.npy": npy_bytes(x_nchw) + b"\0\0\0\0", "y.npy": npy_bytes(y_nchw)})
np.savez(path("missing_y.npz"), x=x_nchw)
np.savez(path("wrong_dtype_x.npz"), x=(x_nchw * 10).astype(np.int32), y=y_nchw)
np.savez(path("wrong_dtype_y.npz"), x=x_nchw, y=y_nchw.astype(np.float32))
np.savez(path("bigendian.npz"), x=x_nchw.astype(">f4"), y=y_nchw)
np.savez(path("fortran.npz"), x=np.asfortranarray(x_flat), y=y_flat)
np.savez(path("structured.npz"), x=np.zeros(7, dtype=[("a", "<f4"), ("b", "<f4")]), y=y_flat)
np.savez(path("object_y.npz"), x=x_flat, y=np.array([1, "a", None] * 2 + [0], dtype=object))
np.savez(path("rank3.npz"), x=x_nchw[:, 0], y=y_nchw)
np.savez(path("y2d.npz"), x=x_nchw, y=y_nchw.reshape(5, 1))
np.savez(path("zero_n.npz"), x=np.zeros((0, 3), np.float32), y=np.zeros(0, np.int64))
bad = y_nchw.copy()
bad[3] = 65536
np.savez(path("label_range.npz"), x=x_nchw, y=bad)
bad[3] = -1
np.savez(path("label_negative.npz"), x=x_nchw, y=bad)
np.savez(path("n_mismatch.npz"), x=x_nchw, y=y_nchw[:4])
bad = x_nchw.copy()
bad[2, 1, 3, 0] = np.nan
np.savez(path("nan.npz"), x=bad, y=y_nchw)
bad = x_flat.copy()
bad[4, 7] = -np.inf
np.savez(path("inf.npz"), x=bad, y=y_flat)
bad[4, 7] = 1e300
np.savez(path("f8_overflow.npz"), x=bad, y=y_flat)
zip_members("version4.npz", {"x.npy": b"\x93NUMPY\x04\x00" + npy_bytes(x_nchw)[8:], "y.npy": npy_bytes(y_nchw)})


def member_data_offset(archive, member):
    """Offset of a member's (compressed) data in the archive: after its local header."""
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(member)
    raw = open(archive, "rb").read()
    at = info.header_offset
    name_len = int.from_bytes(raw[at + 26 : at + 28], "little")
    extra_len = int.from_bytes(raw[at + 28 : at + 30], "little")
    return at + 30 + name_len + extra_len, info.compress_size


# A deflate stream whose first block header has the reserved type 3: zlib's "invalid block type".
raw = bytearray(open(path("nchw_compressed.npz"), "rb").read())
at, size = member_data_offset(path("nchw_compressed.npz"), "x.npy")
raw[at] = 0xFF
open(path("corrupt_deflate.npz"), "wb").write(raw)
# A stored member with one data byte changed: the CRC no longer matches.
raw = bytearray(good)
at, size = member_data_offset(path("nchw.npz"), "x.npy")
raw[at + size - 3] ^= 0x01
open(path("crc.npz"), "wb").write(raw)

with h5py.File(path("h5_missing_y.h5"), "w") as f:
    f.create_dataset("x", data=x_nchw)
with h5py.File(path("h5_int_x.h5"), "w") as f:
    f.create_dataset("x", data=(x_nchw * 10).astype(np.int32))
    f.create_dataset("y", data=y_nchw)
with h5py.File(path("h5_float_y.h5"), "w") as f:
    f.create_dataset("x", data=x_nchw)
    f.create_dataset("y", data=y_nchw.astype(np.float64))
with h5py.File(path("h5_mismatch.h5"), "w") as f:
    f.create_dataset("x", data=x_nchw)
    f.create_dataset("y", data=y_nchw[:3])
bad = x_nchw.copy()
bad[4, 2, 0, 5] = np.nan
with h5py.File(path("h5_nan.h5"), "w") as f:
    f.create_dataset("x", data=bad)
    f.create_dataset("y", data=y_nchw)
bad = y_nchw.astype(np.uint32)
bad[1] = 70000
with h5py.File(path("h5_label.h5"), "w") as f:
    f.create_dataset("x", data=x_nchw)
    f.create_dataset("y", data=bad)
with h5py.File(path("h5_group_x.h5"), "w") as f:
    f.create_group("x")
    f.create_dataset("y", data=y_nchw)
with h5py.File(path("h5_unwritten.h5"), "w") as f:
    f.create_dataset("x", shape=(1 << 16, 3, 32, 32), dtype=np.float32, chunks=(64, 3, 32, 32))
    f["x"][:64] = 1.0  # one chunk of 1024 written
    f.create_dataset("y", data=np.zeros(1 << 16, np.uint8))
with h5py.File(path("h5_never_written.h5"), "w") as f:
    f.create_dataset("x", shape=(5, 3, 4, 6), dtype=np.float32)
    f.create_dataset("y", data=y_nchw)
with h5py.File(path("h5_rank3.h5"), "w") as f:
    f.create_dataset("x", data=x_nchw[:, 0])
    f.create_dataset("y", data=y_nchw)
with h5py.File(path("h5_scalar_y.h5"), "w") as f:
    f.create_dataset("x", data=x_nchw)
    f.create_dataset("y", data=3)
with open(path("nothdf5.h5"), "w") as f:
    f.write("not HDF5\n")
