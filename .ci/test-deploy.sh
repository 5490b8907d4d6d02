#!/usr/bin/env bash
# The deploy checks of issue #31, after the release build of more-node (about 20 s here):
# the Kustomize manifests rendered by kubectl and validated by kubernetes-validate (strict, the
# Kubernetes 1.32 schemas), the OCI images built from scratch by buildah (.ci/image.sh), and
# compute-node/deploy/check_deploy.py: Pod Security `restricted` in every pod template, and the
# image run with each Deployment's arguments, as its non-root user on a read-only root, answering
# every probe and the Prometheus scrape the manifests name. Needs root (buildah, mount
# namespaces) and what .ci/setup-tests installs (buildah, target/deploy-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
VENV=target/deploy-venv
TAG=0.1.0
rendered=$(mktemp --suffix=.yaml)
trap 'rm -f "$rendered"' EXIT

echo "== Kubernetes manifests: kubectl kustomize, kubernetes-validate --strict"
kubectl kustomize compute-node/deploy/kubernetes > "$rendered"
"$VENV/bin/kubernetes-validate" --strict --quiet -k 1.32.0 "$rendered"

echo "== OCI images from scratch (buildah)"
bash .ci/image.sh "$TAG"

echo "== Pod Security, probes and scrape against the image"
"$VENV/bin/python" compute-node/deploy/check_deploy.py "$rendered" "localhost/more-node:$TAG" \
  "localhost/more-node-backup:$TAG"
echo "== deploy checks passed in ${SECONDS} s"
