#!/usr/bin/env bash
# Installs what Zoo needs on a fresh Debian machine (idempotent: only what is missing).
set -euo pipefail
# chromium: the report test opens the HTML report headless and takes a screenshot;
# libc6-dev-arm64-cross: scripts/arm64-check.sh compiles the C kernels for arm64 against it;
# postgresql, openssl: the tests start a private server with TLS (scripts/postgres-test-server.sh).
packages=(libopenblas-dev zlib1g-dev libsqlite3-dev dataset-fashion-mnist python3-pip chromium libc6-dev-arm64-cross postgresql openssl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The tests check checkpoints with the real `safetensors` package, exports with pandas, and the
# analysis statistics against scipy and scikit-learn, `zoo deploy k8s` manifests with PyYAML (PyPI).
python_packages=(safetensors numpy pandas scipy scikit-learn pyyaml)
if ! python3 -c "import safetensors, numpy, pandas, scipy, sklearn, yaml" 2>/dev/null; then
    echo "installing Python packages: ${python_packages[*]}"
    python3 -m pip install --quiet --disable-pip-version-check "${python_packages[@]}" \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${python_packages[@]}"
fi
