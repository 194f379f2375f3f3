#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml against the Kubernetes API schemas, offline: kubeconform
# (built from the Go module proxy) reads the JSON schemas that the kubernetes-validate package
# on PyPI ships (one directory per Kubernetes release), so no schema is downloaded at run time.
# Strict: an unknown or misspelt field fails as well as a wrong type. Installs both tools
# under the cache dir the first time.
#
#   scripts/kube-validate.sh [FILE...]      (default: deploy/kubernetes/*.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# The Kubernetes release the manifests are checked against: the newest the schemas package
# carries.
KUBERNETES_VERSION=1.37.0
CACHE="${STREAMGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/streamgate}"

BIN="$CACHE/bin/kubeconform-$KUBECONFORM_VERSION"
if [[ ! -x "$BIN" ]]; then
    command -v go >/dev/null || { echo "kube-validate: needs go (Go 1.21 or newer) to build kubeconform" >&2; exit 1; }
    mkdir -p "$CACHE/gobin-$KUBECONFORM_VERSION" "$CACHE/bin"
    GOBIN="$CACHE/gobin-$KUBECONFORM_VERSION" GOTOOLCHAIN=local \
        go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    mv "$CACHE/gobin-$KUBECONFORM_VERSION/kubeconform" "$BIN"
fi

VENV="$CACHE/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
PACKAGED=$("$VENV/bin/python" -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')
# The package's schemas carry an https://kubernetes.io/api/ `$id` and point at their shared
# definitions as "/api/_definitions.json" (its own resolver maps those to the directory);
# kubeconform would resolve them over the network. A copy without the `$id` and with the
# reference made relative to the file is kept beside the tools.
SCHEMAS="$CACHE/kubernetes-json-schema-$KUBERNETES_VALIDATE_VERSION"
for flavour in local local-strict; do
    src="$PACKAGED/v$KUBERNETES_VERSION-$flavour" dst="$SCHEMAS/v$KUBERNETES_VERSION-$flavour"
    [[ -d "$src" ]] || { echo "kube-validate: no schemas for Kubernetes $KUBERNETES_VERSION in $PACKAGED" >&2; exit 1; }
    [[ -f "$dst/_definitions.json" ]] && continue
    rm -rf "$dst.part" && mkdir -p "$dst.part"
    python3 - "$src" "$dst.part" <<'PY'
import json, pathlib, sys
src, dst = map(pathlib.Path, sys.argv[1:])
for f in src.glob("*.json"):
    text = f.read_text().replace('"/api/_definitions.json#', '"_definitions.json#')
    schema = json.loads(text)
    schema.pop("$id", None)
    (dst / f.name).write_text(json.dumps(schema))
PY
    rm -rf "$dst" && mv "$dst.part" "$dst"
done

validate() {
    "$BIN" -strict -summary -kubernetes-version "$KUBERNETES_VERSION" \
        -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        "$@"
}

# The check must be able to fail: a misspelt field in a known kind is refused.
bad=$(mktemp --suffix=.yaml)
trap 'rm -f "$bad"' EXIT
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: typo}\nspec: {selektor: {app: x}}\n' >"$bad"
if validate "$bad" >/dev/null 2>&1; then
    echo "kube-validate: a Service with a misspelt field passed: the schemas are not applied" >&2
    exit 1
fi

if (($#)); then files=("$@"); else files=(deploy/kubernetes/*.yaml); fi
validate "${files[@]}"
