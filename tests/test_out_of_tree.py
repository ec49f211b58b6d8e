"""Plugins built outside the source tree, against an installed audiobus,
load and run in `audiobus process`:
- the README's own example plugin (`mean_abs`, taken from README.md's
  "Writing a plugin" section, so the README stays true), which needs only
  the ABI header, and
- examples/level, which also links libaudiobus (its real-time text helpers),
  so the installed shared library must be found at run time,
are each built twice - with the installed CMake package (the README's
CMakeLists.txt) and with pkg-config (the README's cc command lines) - and
each build is run by the installed `audiobus` on a stream through a broker,
with LD_LIBRARY_PATH empty. Each must report exact figures of a known stream.

Usage: test_out_of_tree.py --bin BUILD/bin/audiobus --build-dir BUILD --cmake CMAKE
"""
import glob
import os
import re
import shlex
import subprocess
import sys

import harness as h


def arg(name):
    return sys.argv[sys.argv.index(name) + 1]


def readme_blocks():
    """The plugin source, its CMakeLists.txt and the two cc lines (ABI only,
    and linking libaudiobus) from README.md."""
    with open(os.path.join(h.SOURCE_DIR, "README.md")) as f:
        text = f.read()
    section = text[text.index("## Writing a plugin"):]
    section = section[:section.index("\n## ", 5)]
    c_code = re.search(r"```c\n(.*?)```", section, re.S).group(1)
    cmake_code = re.search(r"```cmake\n(.*?)```", section, re.S).group(1)
    cc_lines = re.findall(r"`(cc -shared [^`]*)`", section)
    h.check(len(cc_lines) == 2, "README gives two cc lines (plain, and linking libaudiobus)", cc_lines)
    return c_code, cmake_code, (cc_lines + [cc_lines[0]])[:2]


def sh(cmd, cwd, env=None, what=""):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                       shell=isinstance(cmd, str))
    h.check(r.returncode == 0, what or str(cmd), r.returncode, (r.stdout + r.stderr)[-3000:])
    return r


work = h.setup()
build_dir, cmake = arg("--build-dir"), arg("--cmake")
prefix = os.path.join(work, "prefix")

# 1. Install the audiobus that was built, into a prefix of this test's own.
sh([cmake, "--install", build_dir, "--prefix", prefix], work, what="cmake --install")
installed = os.path.join(prefix, "bin", "audiobus")
pc_files = glob.glob(os.path.join(prefix, "**", "pkgconfig", "audiobus.pc"), recursive=True)
h.check(os.access(installed, os.X_OK), "installed audiobus executable", installed)
h.check(len(pc_files) == 1, "one installed audiobus.pc", pc_files)
if not h.all_passed():
    h.finish()  # nothing installed to build against

# 2. Two plugin source trees of their own: the README's mean_abs (its
#    CMakeLists.txt as written) and examples/level (the same CMakeLists.txt,
#    renamed).
c_code, cmake_code, cc_lines = readme_blocks()
with open(os.path.join(h.SOURCE_DIR, "examples", "level", "level.c")) as f:
    level_code = f.read()
plugins = {"mean_abs": (c_code, cmake_code, cc_lines[0]),
           "level": (level_code, cmake_code.replace("mean_abs", "level"), cc_lines[1].replace("mean_abs", "level"))}

env = dict(os.environ)
env.pop("AUDIOBUS_PLUGIN_PATH", None)
env_pc = dict(env, PKG_CONFIG_PATH=os.path.dirname(pc_files[0]))
libdir = subprocess.run(["pkg-config", "--variable=libdir", "audiobus"], env=env_pc, capture_output=True,
                        text=True).stdout.strip()
h.check(os.path.realpath(libdir).startswith(os.path.realpath(prefix)), "pkg-config libdir is in the prefix",
        libdir)
builds = []  # (plugin, how, path)
for name, (code, cmakelists, cc_line) in plugins.items():
    src = os.path.join(work, name)
    os.makedirs(src)
    with open(os.path.join(src, name + ".c"), "w") as f:
        f.write(code)
    with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
        f.write(cmakelists)
    sh([cmake, "-S", src, "-B", os.path.join(src, "build"), "-DCMAKE_PREFIX_PATH=" + prefix], src, env,
       "configure %s with find_package(audiobus)" % name)
    sh([cmake, "--build", os.path.join(src, "build")], src, env, "build %s with CMake" % name)
    builds.append((name, "cmake", os.path.join(src, "build", "plugins", name + ".so")))
    # The README's cc line as written (plus -Werror: the code must compile
    # cleanly), with the installed .pc file on PKG_CONFIG_PATH.
    pc_dir = os.path.join(src, "pc")
    os.makedirs(pc_dir)
    sh("cp ../%s.c . && %s -Wall -Wextra -Werror" % (name, cc_line), pc_dir, env_pc, "cc line: " + cc_line)
    builds.append((name, "pkg-config", os.path.join(pc_dir, name + ".so")))
for name, how, path in builds:
    h.check(os.path.exists(path), "%s build of %s made a plugin" % (how, name), path)

# 3. Each build runs in the installed audiobus on a stream whose figures are
#    known exactly: a square wave of amplitude 0.25 (s16: 8192 / 32768), 1.5 s
#    at 16 kHz: mean |x| 0.25, rms and peak 20 log10(0.25) = -12.04 dBFS.
rate, frames = 16000, 24000
samples = [8192 if (i // 40) % 2 == 0 else -8192 for i in range(frames)]
wav = os.path.join(work, "square.wav")
h.write_wav(wav, rate, 1, "s16", b"".join(v.to_bytes(2, "little", signed=True) for v in samples))
expect = {"mean_abs": r"mean_abs 0\.250000 over 24000 samples", "level": r"rms -12\.0 dBFS peak -12\.0 dBFS"}

h.AUDIOBUS = installed
broker, ep = h.start_broker(work)
run_env = {"LD_LIBRARY_PATH": ""}  # plugins must find the installed libaudiobus by themselves
for i, (name, how, path) in enumerate(builds):
    if not os.path.exists(path):
        continue
    stream, node = "square%d" % i, "p%d" % i
    proc = h.Node(work, node, ["process", "--broker", ep, "--stream", stream, "--plugin", path,
                               "--name", node, "--exit-at-end"], env=run_env)
    h.check(h.wait_linked(ep, [node]), "processor linked", name, how, proc.output()[-2000:])
    status, out, err = h.run(["record", "--broker", ep, "--stream", stream, "--source", "file:" + wav,
                              "--speed", "20", "--block", "320"], timeout=60)
    h.check(status == 0, "recorder exits 0 at end of file", name, how, status, err[-1000:])
    h.check(proc.wait(20) == 0, "processor exits 0", name, how, proc.output()[-2000:])
    m = re.search(expect[name], proc.output())
    h.check(m is not None, "the plugin logged the exact figures", name, how, expect[name], proc.output()[-2000:])
    if m:
        print("%s, %s build: %s" % (name, how, m.group(0)), flush=True)
h.finish()
