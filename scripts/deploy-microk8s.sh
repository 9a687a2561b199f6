#!/usr/bin/env bash
# Installs or upgrades the sip-ai-bridge Helm chart on MicroK8s (the seed's ./deploy-microk8s.sh).
#   scripts/deploy-microk8s.sh [options] [-- extra helm arguments]
# Options:
#   -n, --namespace NAME   namespace (default: sip-system)
#   -r, --release NAME     release name (default: sip-ai-bridge)
#   -f, --values FILE      a values file (repeatable)
#   --profile basic|strict network policies (default: basic)
#   --no-metrics-server    do not enable metrics-server (the gateways' autoscaler needs it)
#   --prometheus           also enable MicroK8s' observability addon (Prometheus operator: ServiceMonitors)
# Anything after -- goes to helm as is, e.g. -- --set sip.domain=sip.example.org
set -euo pipefail
cd "$(dirname "$0")/.."

namespace=sip-system
release=sip-ai-bridge
profile=basic
metrics_server=1
prometheus=0
values=()
extra=()

die() { printf 'deploy-microk8s: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'deploy-microk8s: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) namespace="${2:?--namespace needs a name}"; shift 2 ;;
    -r|--release) release="${2:?--release needs a name}"; shift 2 ;;
    -f|--values) values+=(-f "${2:?--values needs a file}"); shift 2 ;;
    --profile) profile="${2:?--profile needs basic or strict}"; shift 2 ;;
    --no-metrics-server) metrics_server=0; shift ;;
    --prometheus) prometheus=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$profile" in basic|strict) ;; *) die "--profile must be basic or strict, not '$profile'" ;; esac

command -v microk8s >/dev/null 2>&1 \
  || die "microk8s is not installed: on Ubuntu, 'sudo snap install microk8s --classic' (https://microk8s.io), then run this again"
microk8s status --wait-ready --timeout 120 >/dev/null 2>&1 \
  || die "microk8s is not running or not ready ('microk8s status'; you may need 'sudo usermod -aG microk8s \$USER' and a new login)"

# dns: Services by name; hostpath-storage: the database's volume; metrics-server: the HPA.
addons=(dns hostpath-storage)
[ "$metrics_server" = 1 ] && addons+=(metrics-server)
[ "$prometheus" = 1 ] && addons+=(observability)
for addon in "${addons[@]}"; do
  if microk8s status --addon "$addon" 2>/dev/null | grep -q '^enabled'; then
    say "addon $addon: already enabled"
  else
    say "enabling addon $addon"
    microk8s enable "$addon" >/dev/null || die "microk8s enable $addon failed"
  fi
done

helm=(microk8s helm3)
if command -v helm >/dev/null 2>&1; then helm=(helm --kubeconfig <(microk8s config)); fi

strict=()
if [ "$profile" = strict ]; then
  # NetworkPolicies do not apply to host-network pods: strict publishes SIP through hostPorts.
  strict=(--set networkPolicy.profile=strict --set kamailio.hostNetwork=false)
fi

say "installing release $release in namespace $namespace (profile $profile)"
"${helm[@]}" upgrade --install "$release" helm/sip-ai-bridge \
  --namespace "$namespace" --create-namespace \
  "${strict[@]}" "${values[@]}" "${extra[@]}" \
  --wait --timeout 10m
say "done: kubectl get pods -n $namespace (or microk8s kubectl ...)"
