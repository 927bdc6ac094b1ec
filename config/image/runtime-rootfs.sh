#!/bin/sh
# Copies a dynamically linked binary and every shared library it loads (its ldd closure, the
# dynamic loader included) into DESTDIR, laid out as a root filesystem: the runtime stage of the
# Dockerfile is this directory and nothing else (no shell, no package manager).
#
# usage: config/image/runtime-rootfs.sh BINARY DESTDIR
# The binary lands at DESTDIR/<its name>, stripped of debug information; each library at the
# path ldd resolved it to, so the loader finds it in its default directories without
# /etc/ld.so.cache. test/manifests/rootfs_test.py runs the result in a chroot.
set -eu

if [ "$#" -ne 2 ]; then
  echo "usage: $0 BINARY DESTDIR" >&2
  exit 2
fi
bin=$1
dest=$2

mkdir -p "$dest"
name=$(basename "$bin")
cp "$bin" "$dest/$name"
strip --strip-debug "$dest/$name"
chmod 0755 "$dest/$name"

# ldd prints "libfoo.so.1 => /path/libfoo.so.1 (0x...)", and the loader as "/lib64/ld-... (0x...)".
# A "not found" library fails the build here rather than at the container's start.
libs=$(ldd "$bin")
if echo "$libs" | grep -q "not found"; then
  echo "$libs" | grep "not found" >&2
  exit 1
fi
echo "$libs" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  while read -r lib; do
    # -L: copy the file a symlink (libfoo.so.1 -> libfoo.so.1.2.3) points to, under the name
    # the loader asks for.
    mkdir -p "$dest$(dirname "$lib")"
    cp -L "$lib" "$dest$lib"
  done
