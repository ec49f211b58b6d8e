"""ab_logmel (through tests/mel_dump.c) against a numpy implementation written here from the formulas
in libaudiobus/include/audiobus/ab_mel.h, in double precision: HTK and Slaney scales, power and
magnitude spectra, both filter normalisations, several windows and log kinds, on white noise and on a
chirp, for several n_fft / hop / n_mels / fmin / fmax (16 kHz 400/160/80 and 48 kHz 2048/512/128
among them).

What is compared, and the bounds:
- the filterbank itself: every weight within 1e-9 of the largest weight of the bank;
- the output, as dB (log=db as it is; log=ln times 10/ln(10), or 20/ln(10) for magnitude; log=none as
  10 log10, or 20 log10, of the ratio of the two values), on every value at least 20 dB above the
  floor, however far below its frame's loudest band: an absolute difference of at most 1e-4 dB.
  (ab_mel's FFT is double precision; with a single-precision one, bands 60 dB and more below the
  loudest would miss this bound.)
Prints the largest differences measured per configuration.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

TOL_DB = 1e-4
ABOVE_FLOOR_DB = 20.0
FILTER_TOL = 1e-9

failures = []


def check(cond, what, *values):
    if not cond:
        msg = "FAIL: %s %s" % (what, " ".join(repr(v) for v in values))
        print(msg, flush=True)
        failures.append(msg)
    return cond


# --- the formulas of ab_mel.h -------------------------------------------------------------------

def hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3.0
    logstep = math.log(6.4) / 27.0
    return np.where(f < 1000.0, f / f_sp, 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) / logstep)


def mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3.0
    logstep = math.log(6.4) / 27.0
    return np.where(m < 15.0, m * f_sp, 1000.0 * np.exp(logstep * (m - 15.0)))


def filterbank(rate, n_fft, n_mels, fmin, fmax, scale, norm):
    """n_mels x (n_fft/2+1): triangles between mel-spaced edges, peak 1 or area 1 (slaney)."""
    lo, hi = hz_to_mel(fmin, scale), hz_to_mel(fmax, scale)
    edges = mel_to_hz(lo + (hi - lo) * np.arange(n_mels + 2) / (n_mels + 1), scale)
    edges[0], edges[-1] = fmin, fmax
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    weights = np.zeros((n_mels, freqs.size))
    for m in range(n_mels):
        rise = (freqs - edges[m]) / (edges[m + 1] - edges[m])
        fall = (edges[m + 2] - freqs) / (edges[m + 2] - edges[m + 1])
        weights[m] = np.maximum(0.0, np.minimum(rise, fall))
        if norm == "slaney":
            weights[m] *= 2.0 / (edges[m + 2] - edges[m])
    return weights


def window(kind, n):
    i = np.arange(n)
    if kind == "hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * i / n)
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * i / n)
    return np.ones(n)


def default_floor(cfg):
    return float(np.float32(cfg.get("floor", 1e-5 if cfg.get("spectrum") == "magnitude" else 1e-10)))


def reference(x, cfg):
    """(frames x n_mels output, frames x n_mels mel energies M)."""
    rate, n_fft, hop, n_mels = cfg["rate"], cfg["n_fft"], cfg["hop"], cfg["n_mels"]
    fmin = cfg.get("fmin", 0.0)
    fmax = cfg.get("fmax", 0.0) or rate / 2.0
    count = (len(x) - n_fft) // hop + 1
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    frames = x.astype(np.float64)[index] * window(cfg.get("window", "hann"), n_fft)
    spectrum = np.abs(np.fft.rfft(frames, axis=1))
    if cfg.get("spectrum", "power") == "power":
        spectrum = spectrum ** 2
    weights = filterbank(rate, n_fft, n_mels, fmin, fmax, cfg.get("scale", "htk"), cfg.get("norm", "none"))
    energy = spectrum @ weights.T
    floor = default_floor(cfg)
    kind = cfg.get("log", "db")
    if kind == "db":
        per_decade = 20.0 if cfg.get("spectrum") == "magnitude" else 10.0
        return per_decade * np.log10(np.maximum(energy, floor)), energy, weights
    if kind == "ln":
        return np.log(energy + floor), energy, weights
    return energy, energy, weights


# --- running the C side -------------------------------------------------------------------------

def run_c(mel_dump, work, x, cfg):
    src = os.path.join(work, "in.f32")
    out = os.path.join(work, "out.f32")
    filt = os.path.join(work, "filters.f64")
    x.astype("<f4").tofile(src)
    args = [mel_dump, src, out] + ["%s=%s" % (k, v) for k, v in cfg.items()] + ["filters=" + filt]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("mel_dump %s failed (%d): %s" % (cfg, p.returncode, p.stderr))
    frames = np.fromfile(out, dtype="<f4").reshape(-1, cfg["n_mels"])
    weights = np.fromfile(filt, dtype="<f8").reshape(cfg["n_mels"], -1)
    return frames, weights


def as_db(values, cfg):
    """Output values in dB, whatever the log kind."""
    per_decade = 20.0 if cfg.get("spectrum") == "magnitude" else 10.0
    kind = cfg.get("log", "db")
    if kind == "db":
        return values
    if kind == "ln":
        return values * per_decade / math.log(10.0)
    return per_decade * np.log10(np.maximum(values, 1e-300))


def compare(name, cfg, got, want, energy):
    """Checks the bound of the docstring. Returns (largest difference in dB, values compared, largest
    distance in dB below the frame's loudest band among them)."""
    per_decade = 20.0 if cfg.get("spectrum") == "magnitude" else 10.0
    floor_db = per_decade * math.log10(default_floor(cfg))
    ref_db = per_decade * np.log10(np.maximum(energy, 1e-300))
    below = ref_db.max(axis=1, keepdims=True) - ref_db
    usable = ref_db >= floor_db + ABOVE_FLOOR_DB
    diff = np.abs(as_db(got.astype(np.float64), cfg) - as_db(want, cfg))
    worst = float(diff[usable].max()) if usable.any() else 0.0
    if worst > TOL_DB:
        at = np.unravel_index(np.argmax(np.where(usable, diff, 0.0)), diff.shape)
        check(False, "%s: difference <= %g dB" % (name, TOL_DB), "frame %d band %d: %.3g dB at %.1f dB below "
              "the loudest band" % (at[0], at[1], diff[at], below[at]))
    check(usable.sum() >= got.shape[0], "%s: each frame has values compared" % name, int(usable.sum()),
          got.shape[0])
    return worst, int(usable.sum()), float(below[usable].max()) if usable.any() else 0.0


def signals(rate, seconds):
    n = int(rate * seconds)
    rng = np.random.default_rng(1234)
    noise = (0.1 * rng.standard_normal(n)).astype(np.float32)
    t = np.arange(n) / rate
    f0, f1 = 50.0, 0.45 * rate
    chirp = (0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds)))).astype(np.float32)
    return {"noise": noise, "chirp": chirp}


def main():
    args = sys.argv[1:]
    if "--mel-dump" not in args:
        sys.exit("usage: test_mel_reference.py --mel-dump PATH/TO/mel_dump")
    mel_dump = args[args.index("--mel-dump") + 1]
    work = tempfile.mkdtemp(prefix="ab-mel-ref-")

    shapes = [
        dict(rate=16000, n_fft=400, hop=160, n_mels=80),
        dict(rate=48000, n_fft=2048, hop=512, n_mels=128),
        dict(rate=16000, n_fft=512, hop=160, n_mels=40, fmin=20, fmax=7600),
        dict(rate=22050, n_fft=1024, hop=256, n_mels=64, fmin=50, fmax=11025),
        dict(rate=8000, n_fft=256, hop=300, n_mels=23, fmin=100, fmax=3800),
    ]
    options = []
    for scale in ("htk", "slaney"):
        for spectrum in ("power", "magnitude"):
            for norm in ("none", "slaney"):
                options.append(dict(scale=scale, spectrum=spectrum, norm=norm))
    extras = [
        (0, dict(window="hamming")),
        (0, dict(window="rect", scale="slaney")),
        (1, dict(log="ln", scale="slaney", norm="slaney")),
        (1, dict(log="ln", spectrum="magnitude", floor=1e-6)),
        (2, dict(log="none")),
        (2, dict(log="none", spectrum="magnitude", scale="slaney")),
        (3, dict(floor=1e-3)),
    ]
    cases = [(shape, opt) for shape in shapes for opt in options] + [(shapes[i], opt) for i, opt in extras]

    print("%-84s %-6s %6s %9s %10s %12s %10s"
          % ("configuration", "signal", "frames", "compared", "deepest dB", "max diff dB", "filters"))
    overall = deepest = 0.0
    for shape, opt in cases:
        cfg = dict(shape)
        cfg.update(opt)
        name = " ".join("%s=%s" % kv for kv in cfg.items())
        for sig_name, x in signals(cfg["rate"], 1.5).items():
            got, c_weights = run_c(mel_dump, work, x, cfg)
            want, energy, weights = reference(x, cfg)
            check(got.shape == want.shape, "%s %s: frame count and bands" % (name, sig_name), got.shape,
                  want.shape)
            if got.shape != want.shape:
                continue
            filt = float(np.abs(c_weights - weights).max() / weights.max())
            check(filt <= FILTER_TOL, "%s: filterbank within %g of the reference" % (name, FILTER_TOL), filt)
            worst, n, below = compare("%s %s" % (name, sig_name), cfg, got, want, energy)
            overall, deepest = max(overall, worst), max(deepest, below)
            print("%-84s %-6s %6d %9d %10.1f %12.2e %10.1e"
                  % (name, sig_name, got.shape[0], n, below, worst, filt), flush=True)
    print("largest difference: %.2e dB (bound %g dB), on values down to %.1f dB below their frame's loudest band"
          % (overall, TOL_DB, deepest))
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
