#!/usr/bin/env bash
# Builds the compute node's OCI images with Debian's buildah, from scratch (no base image is
# pulled): `localhost/more-node:TAG` holds the stripped release `more-node`, exactly the shared
# libraries `ldd` lists for it (glibc, libm, libgcc_s, the loader), /etc/passwd and /etc/group
# naming the user 65532 it runs as, and the CA bundle (S3 and OIDC over HTTPS);
# `localhost/more-node-backup:TAG` adds pg_dump and pg_restore (PostgreSQL 15) with their
# libraries, for `more-node backup` of a PostgreSQL node (the backup CronJob).
#
# Why glibc and not a static (musl) binary: the tests run this very build, and a musl build is a
# second release build of the workspace (C code: SQLite, ring, mimalloc) for a few MB less.
#
# Usage: bash .ci/image.sh [TAG]   (MORE_NODE_BIN: the binary, default target/release/more-node,
# built when missing). Uses buildah's configured storage (overlay here). Prints the
# images' sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-0.1.0}
BIN=${MORE_NODE_BIN:-target/release/more-node}
PG_BIN=${MORE_PG_BIN:-/usr/lib/postgresql/15/bin}

UID_GID=65532

if [[ ! -x "$BIN" ]]; then
  cargo build --release -p more-node
fi
previous=("$(buildah images -q "localhost/more-node-backup:$TAG" 2>/dev/null || true)"
  "$(buildah images -q "localhost/more-node:$TAG" 2>/dev/null || true)")
stage=$(mktemp -d)
containers=()
cleanup() {
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$stage"
}
trap cleanup EXIT

# Copies each shared library a program needs (ldd), dereferenced, under $2 at its own path.
copy_libraries() {
  local program=$1 root=$2
  ldd "$program" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' |
  while read -r lib; do
    cp -L --parents "$lib" "$root"
  done
}

root=$stage/root
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/more"
strip -o "$root/usr/local/bin/more-node" "$BIN"
copy_libraries "$BIN" "$root"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:%s:%s:more-node:/var/lib/more:/sbin/nologin\n' \
  $UID_GID $UID_GID > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:%s:\n' $UID_GID > "$root/etc/group"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
chmod 1777 "$root/tmp"
# The data directory (the volume's mount point) is the node user's; everything else is root's.
chown $UID_GID:$UID_GID "$root/var/lib/more"
chmod 0700 "$root/var/lib/more"
# A tar keeps owners and modes (buildah copy would make every file root's or every file 65532's).
tar --numeric-owner -C "$root" -cf "$stage/root.tar" .

ctr=$(buildah from scratch)
containers+=("$ctr")
buildah add --quiet "$ctr" "$stage/root.tar" / >/dev/null
buildah config \
  --user $UID_GID:$UID_GID \
  --entrypoint '["/usr/local/bin/more-node"]' \
  --cmd '["serve", "--data-dir", "/var/lib/more", "--bind", "0.0.0.0:8080"]' \
  --env MORE_DATA_DIR=/var/lib/more \
  --workingdir /var/lib/more \
  --volume /var/lib/more \
  --port 8080 --port 9464 \
  --label org.opencontainers.image.title=more-node \
  --label org.opencontainers.image.version="$TAG" \
  --label org.opencontainers.image.licenses="MIT OR Apache-2.0" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "localhost/more-node:$TAG" >/dev/null
containers=()

# The backup image: the same, plus the PostgreSQL client tools and their libraries.
pg_root=$stage/pg
mkdir -p "$pg_root$PG_BIN"
for tool in pg_dump pg_restore; do
  cp -L "$PG_BIN/$tool" "$pg_root$PG_BIN/"
  copy_libraries "$PG_BIN/$tool" "$pg_root"
done
ctr=$(buildah from "localhost/more-node:$TAG")
containers+=("$ctr")
tar --numeric-owner -C "$pg_root" -cf "$stage/pg.tar" .
buildah add --quiet "$ctr" "$stage/pg.tar" / >/dev/null
buildah config --env MORE_PG_BIN="$PG_BIN" \
  --label org.opencontainers.image.title=more-node-backup "$ctr"
buildah commit --quiet --rm "$ctr" "localhost/more-node-backup:$TAG" >/dev/null
containers=()

# The images this script built before under the same tags (now untagged) are removed.
current=$(buildah images -q "localhost/more-node:$TAG"; buildah images -q "localhost/more-node-backup:$TAG")
for old in "${previous[@]}"; do
  if [[ -n "$old" ]] && ! grep -q "^$old" <<<"$current"; then
    buildah rmi "$old" >/dev/null 2>&1 || true
  fi
done
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E "more-node(-backup)?:$TAG"
