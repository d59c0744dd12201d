"""Pieces every aimc plot script shares (plot_mc.py, plot_snr.py, plot_hardnn.py): user-facing errors
as one line with exit status 1, argument errors routed the same way, and opening a results file of a
given format with a clear message when it is missing, not HDF5, or of another kind."""
import argparse
import os
import sys


class PlotError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise PlotError(message)


def text(v):
    """HDF5 string attribute or element (fixed-length ones arrive as bytes) as str."""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def require_plot_libs():
    """Fails with an install hint when h5py or matplotlib cannot be imported."""
    try:
        import h5py  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise PlotError(f"{e}: install Debian's python3-h5py python3-matplotlib, or run with \"$(scripts/python.sh)\"")


def open_results(path, fmt):
    """The HDF5 file at `path` (an h5py.File, to use in a `with`), checked to be an `fmt` results file
    (root attribute format == fmt, e.g. "aimc-mc")."""
    import h5py

    if not os.path.exists(path):
        raise PlotError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise PlotError(f"{path}: not an {fmt} results file (not HDF5: {e})")
    if text(f.attrs.get("format", b"")) != fmt:
        f.close()
        raise PlotError(f"{path}: not an {fmt} results file (root attribute format != '{fmt}')")
    return f


def save_png(fig, out):
    """Writes the figure to `out` as PNG (a one-line error if it cannot) and closes it; returns `out`."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        fig.savefig(out, format="png")
    except OSError as e:
        raise PlotError(f"{out}: cannot write ({e.strerror or e})")
    finally:
        plt.close(fig)
    return out


def run(main, prog):
    """Runs main(argv) as the script's entry point: a PlotError becomes `prog: message`, exit status 1."""
    try:
        sys.exit(main(sys.argv[1:]))
    except PlotError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(1)
