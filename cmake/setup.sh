#!/bin/sh
# setup.sh - install what audiobus needs from Debian's packages (only what is
# missing), then configure and build. Usage:
#   cmake/setup.sh [BUILD_DIR] [extra cmake arguments...]
# BUILD_DIR defaults to "build" beside this repository's CMakeLists.txt.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-"$here/build"}
[ $# -gt 0 ] && shift

packages="build-essential cmake pkg-config libzmq3-dev libczmq-dev portaudio19-dev libmsgpack-dev
libsndfile1-dev libjansson-dev libfftw3-dev libpng-dev python3 python3-zmq python3-msgpack python3-numpy jackd2 espeak-ng
procps iproute2"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "audiobus setup: installing$missing"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" >/dev/null
echo "audiobus setup: built in $build_dir"
