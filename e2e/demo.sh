#!/usr/bin/env bash
# make demo: starts berthd on a private root with a managed containerd, imports a busybox image made from the
# host's busybox-static, runs a container that prints a greeting with both the berth and the docker CLI, and
# stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
root="$work/root"; exec_root="$work/run"; sock="$work/berth.sock"
berthd_pid=""
cleanup() {
  set +e
  if [ -n "$berthd_pid" ] && kill -0 "$berthd_pid" 2>/dev/null; then
    kill -TERM "$berthd_pid"; wait "$berthd_pid" 2>/dev/null
  fi
  # The managed containerd outlives berthd by design (live restore); the demo started it, so it stops it,
  # by the PID in its pidfile and only if that PID still runs containerd.
  "$BIN/berthd" containerd stop --root "$root" --exec-root "$exec_root" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

show() { printf '\n$ %s\n' "$*"; "$@"; }

echo "== starting berthd (root $root)"
"$BIN/berthd" --root "$root" --exec-root "$exec_root" -H "unix://$sock" --log-level warn >"$work/berthd.log" 2>&1 &
berthd_pid=$!
for _ in $(seq 1 100); do
  "$BIN/berth" -H "unix://$sock" version >/dev/null 2>&1 && break
  kill -0 "$berthd_pid" 2>/dev/null || { cat "$work/berthd.log"; exit 1; }
  sleep 0.1
done

echo "== building a busybox image from $(command -v busybox)"
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for app in sh echo cat ls true false sleep env id hostname ps wc; do ln -s busybox "$rootfs/bin/$app"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
tar -C "$rootfs" -cf "$work/busybox.tar" .

export BERTH_HOST="unix://$sock"
show "$BIN/berth" import "$work/busybox.tar" busybox:demo
show "$BIN/berth" images
if [ -x /usr/local/bin/docker ] || command -v docker >/dev/null; then
  export DOCKER_HOST="unix://$sock"
  show docker run --rm busybox:demo echo "Hello from Berth, through the docker CLI"
  show docker ps -a
fi
echo
echo "(on exit the demo stops berthd and its managed containerd and removes $work)"
show "$BIN/berth" run --rm busybox:demo echo "Hello from Berth!"
