"""Distinct finished jobs of a campaign: those its results file marks done, united with the records in
its journals (OUT.journal, OUT.journal.<rank>). Used by the process-level kill tests to check that a
resumed run does exactly the jobs that were lost, i.e. that nothing finished was lost.

Usage: done_jobs.py mc|hardnn OUT
"""
import glob
import sys

import h5py


def file_jobs(kind, out):
    jobs = set()
    with h5py.File(out, "r") as f:
        if kind == "mc":
            for name, g in f["points"].items():
                p = int(name[1:])
                for t, d in enumerate(g["done"][()]):
                    if d:
                        jobs.add((p, t))
        else:
            c, v = f["jobs/campaign"], f["jobs/verify"]
            units = len(c["done"]) // int(c.attrs["jobs_per_unit"])  # verification units follow the fmaps
            for grp, offset in ((c, 0), (v, units)):
                per = int(grp.attrs["jobs_per_unit"])
                for row, d in enumerate(grp["done"][()]):
                    if d:
                        jobs.add((offset + row // per, row % per))
    return jobs


def journal_jobs(out):
    jobs = set()
    for path in glob.glob(glob.escape(out) + ".journal*"):
        with open(path) as fh:
            for line in fh:
                tok = line.split()
                if line.endswith("\n") and tok and tok[-1] == "end":
                    jobs.add((int(tok[0]), int(tok[1])))
    return jobs


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    f = file_jobs(kind, out)
    j = journal_jobs(out)
    print(len(f), len(j - f), len(f | j))
