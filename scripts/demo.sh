#!/usr/bin/env bash
# pier demo: build pier; with pier-runtime, run a busybox bundle in the
# foreground and walk a second one through the OCI lifecycle; with pier,
# import a busybox image, run containers from it, publish a port, keep data
# in a named volume, build a multi-stage Dockerfile and run the result, and
# push to and pull from a local docker-registry.  Everything lives in a
# temporary directory that is removed at the end.  Run as root.
#
# Environment:
#   PIER_BUILD_DIR  build directory (default build-release)
#   PIER_JOBS       ninja -j value  (default: ninja's own)
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
build=${PIER_BUILD_DIR:-build-release}
jobs=()
if [ -n "${PIER_JOBS:-}" ]; then
  jobs=(-j "$PIER_JOBS")
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (containers need namespaces, mounts and cgroups)" >&2
  exit 1
fi

if [ -t 1 ]; then
  bold=$'\033[1m' cyan=$'\033[36m' plain=$'\033[0m'
else
  bold='' cyan='' plain=''
fi
step() { printf '\n%s## %s%s\n' "$bold" "$*" "$plain"; }

step "dependencies and build"
scripts/install-deps.sh
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release
fi
ninja -C "$build" "${jobs[@]}"
runtime=$PWD/$build/pier-runtime
pier_bin=$PWD/$build/pier

work=$(mktemp -d /tmp/pier-demo.XXXXXX)
state=$work/state
cleanup() {
  for id in demo-run demo-bg; do
    "$runtime" --root "$state" delete --force "$id" >/dev/null 2>&1 || true
  done
  "$pier_bin" --root "$work/store" --runroot "$work/runroot" rm -f demo-web demo-fail demo-httpd >/dev/null 2>&1 || true
  "$pier_bin" --root "$work/store" --runroot "$work/runroot" volume rm -f demo-data >/dev/null 2>&1 || true
  if [ -n "${reg_pid:-}" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Show each pier command before running it (its store lives in $work).
pier() {
  printf '%s$ pier %s%s\n' "$cyan" "$*" "$plain"
  "$pier_bin" --root "$work/store" --runroot "$work/runroot" "$@"
}

# Show each pier-runtime command before running it.
rt() {
  printf '%s$ pier-runtime %s%s\n' "$cyan" "$*" "$plain"
  "$runtime" --root "$state" "$@"
}

# The status field of `state` (/usr/bin/python3: the Debian python that
# install-deps guarantees, whatever python3 comes first in PATH).
status_of() {
  "$runtime" --root "$state" state "$1" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'
}

step "a busybox bundle in $work"
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"
echo "rootfs: $(ls "$rootfs/bin" | wc -l) busybox applets in /bin"

mkdir -p "$work/run"
rt spec --bundle "$work/run"
/usr/bin/python3 - "$work/run/config.json" "$rootfs" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
cfg["root"]["path"] = rootfs
cfg["process"]["terminal"] = False
cfg["hostname"] = "pier-demo"
cfg["process"]["args"] = ["sh", "-c",
    'echo "hostname: $(hostname)"; echo "pid:      $$"; echo "id:       $(id)"; '
    'echo "mounts:"; awk \'{ printf "  %-22s %s\\n", $2, $3 }\' /proc/mounts']
json.dump(cfg, open(path, "w"), indent=2)
PY
echo "config.json: process.args = sh -c 'echo hostname, pid, id; list mounts'"

step "run: create + start + wait + delete in one command"
rt run --bundle "$work/run" demo-run

step "the lifecycle of a second, detached container"
mkdir -p "$work/bg"
cp "$work/run/config.json" "$work/bg/config.json"
/usr/bin/python3 - "$work/bg/config.json" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
cfg["hostname"] = "demo-bg"
cfg["process"]["args"] = ["sh", "-c",
    'trap "echo demo-bg: got SIGTERM, exiting; exit 0" TERM; '
    'echo "demo-bg: pid $$, waiting for a signal"; while true; do sleep 1; done']
json.dump(cfg, open(path, "w"), indent=2)
PY

rt create --bundle "$work/bg" demo-bg </dev/null
rt state demo-bg
rt start demo-bg
sleep 0.5
echo "status: $(status_of demo-bg)"
rt list
rt ps demo-bg
rt exec demo-bg sh -c 'echo "exec: a second process in $(hostname), running as $(id -un)"'
rt pause demo-bg
echo "status: $(status_of demo-bg)"
rt resume demo-bg
echo "status: $(status_of demo-bg)"
rt kill demo-bg TERM
for _ in $(seq 50); do
  [ "$(status_of demo-bg)" = stopped ] && break
  sleep 0.2
done
echo "status: $(status_of demo-bg)"
rt delete demo-bg
rt list

step "a local image: import the busybox rootfs, list and inspect it"
tar -C "$rootfs" -czf "$work/busybox.tar.gz" .
pier import -m "busybox from Debian's busybox-static" -c 'CMD ["sh"]' -c 'ENV DEMO=1' \
  "$work/busybox.tar.gz" localhost/busybox:demo
pier tag localhost/busybox:demo busybox
pier images
pier image inspect --format 'id {{.Id}}, layers {{json .RootFS.Layers}}, cmd {{json .Config.Cmd}}' busybox

step "containers from the image: pier run, ps, logs, exec, stop, rm"
pier run --rm busybox sh -c 'echo "hello from $(hostname), $(id)"; cat /etc/os-release 2>/dev/null || echo "no os-release: a busybox image"'
pier run --name demo-web -d -e GREETING=hi busybox sh -c \
  'trap "echo demo-web: stopping; exit 0" TERM; echo "demo-web: $GREETING, pid $$"; while true; do sleep 0.2; done'
sleep 0.5
pier ps
pier logs demo-web
pier exec demo-web sh -c 'echo "exec: $(ps | wc -l) lines of ps in $(hostname)"'
pier stop demo-web
pier ps -a
pier inspect -f 'demo-web: {{.State.Status}}, exit code {{.State.ExitCode}}' demo-web
pier run --name demo-fail busybox sh -c 'exit 3' || echo "exit code: $?"
pier rm demo-web demo-fail

step "a published port: httpd in a container, fetched from the host with curl"
pier run -d --name demo-httpd -p 127.0.0.1:18080:80 busybox sh -c \
  'mkdir -p /www && echo "hello from $(hostname) through a published port" >/www/index.html && exec httpd -f -p 80 -h /www'
pier port demo-httpd
for _ in $(seq 50); do
  curl -s http://127.0.0.1:18080/ && break
  sleep 0.1
done
pier rm -f demo-httpd

step "a named volume keeps data across containers"
pier volume create demo-data
pier run --rm -v demo-data:/data busybox sh -c 'echo "written by the first container at $(date)" > /data/note'
pier run --rm -v demo-data:/data busybox cat /data/note
pier volume ls
pier volume rm demo-data

step "pier build: a multi-stage Dockerfile; the final image holds only the artifact"
mkdir -p "$work/app/src"
printf 'hello from a pier build\n' >"$work/app/src/greeting.txt"
printf 'notes.md\n' >"$work/app/.dockerignore"
printf 'not shipped\n' >"$work/app/notes.md"
cat >"$work/app/Dockerfile" <<'DOCKERFILE'
# A builder stage with the whole toolbox makes the artifact...
FROM localhost/busybox:demo AS builder
ARG VERSION=dev
WORKDIR /build
COPY src/ ./
RUN mkdir -p /out/bin && cp /bin/busybox /out/bin/ && \
    { echo '#!/bin/busybox sh'; echo "/bin/busybox cat /greeting.txt"; \
      echo "/bin/busybox echo version $VERSION, built as \$(/bin/busybox id -u)"; } >/out/bin/app && \
    chmod 755 /out/bin/app && cp greeting.txt /out/
# ...and only the artifact ships, on an empty base.
FROM scratch
COPY --from=builder /out/ /
USER 1000
ENTRYPOINT ["/bin/app"]
DOCKERFILE
cat "$work/app/Dockerfile"
pier build --progress=plain --build-arg VERSION=1.0 -t demo-app:1 "$work/app"
pier run --rm demo-app:1
pier history demo-app:1
echo "a rebuild comes from the cache:"
pier build --progress=plain --build-arg VERSION=1.0 -t demo-app:1 "$work/app" 2>&1 | grep -E 'CACHED|DONE [0-9.]+s$' | tail -4
pier rmi demo-app:1
pier builder prune -f
pier rmi busybox
pier images

step "a local registry: push the image, pull it back by digest"
reg_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work/registry" "$reg_port" >"$work/registry.yml"
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$reg_port/v2/" >/dev/null && break
  sleep 0.1
done
repo=127.0.0.1:$reg_port/demo/busybox
pier tag localhost/busybox:demo "$repo:1"
pier push "$repo:1" | tee "$work/push.out"
digest=$(awk '/: digest: / { print $3 }' "$work/push.out")
pier rmi localhost/busybox:demo "$repo:1"
pier pull "$repo@$digest"
pier image inspect --format '{{json .RepoDigests}}' "$repo@$digest"
pier run --rm "$repo@$digest" echo "hello from an image pulled by digest"

step "done: containers deleted, registry stopped, $work removed"
