#!/bin/sh
# Sets up a build of python3-tls-nss on Debian/Ubuntu (apt-get) or
# Fedora/RHEL (dnf), then runs one job:
#
#   ./setup.sh demo    install the dependencies, build, run 'python3 -m tls_nss demo'
#   ./setup.sh check   install the dependencies, build, run the tests ('make check'),
#                      under sanitizers, on every interpreter pyenv has, through the
#                      RPM's %check ('make rpm'), and on Fedora's NSS where its
#                      sources are at hand: under Fedora's DEFAULT policy, then in
#                      FIPS mode under its FIPS policy, as on RHEL in FIPS mode
#   ./setup.sh bench   install the dependencies, build, run the benchmarks ('make bench')
#
# It always builds for the distribution's interpreter, /usr/bin/python3,
# whatever 'python3' comes first on PATH. Run it as root, or with sudo at hand.
#
# The second NSS: where NSS_FEDORA_DIR (default: ../shared/nss-fedora beside
# this tree) holds build.sh and the NSS release sources of Fedora's NSS,
# 'check' builds that NSS once (cached under ~/.cache/tls-nss) and runs the
# tests against it twice ('make check-nss'): with Fedora's DEFAULT crypto
# policy in its system policy file, and in FIPS mode (NSS_FIPS=1, what the
# kernel's fips_enabled gives every NSS process on RHEL) with Fedora's FIPS
# policy there.
set -eu

job=${1:-}
case $job in
demo | check | bench) ;;
*)
    echo "usage: $0 demo|check|bench" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends \
        build-essential autoconf automake libtool pkg-config \
        libnss3-dev libnspr4-dev libp11-kit-dev p11-kit-modules ca-certificates \
        python3 python3-dev python3-pytest python3-cryptography python3-mypy \
        openssl gnutls-bin libnss3-tools \
        p11-kit softhsm2 opensc zlib1g-dev libsqlite3-dev python3-matplotlib \
        rpm rpmlint curl \
        python3-aiosmtpd python3-pyftpdlib python3-requests python3-httpx python3-h2 \
        python3-aiohttp python3-websockets python3-tornado python3-uvicorn \
        python3-hypercorn python3-openssl wrk >/dev/null
elif command -v dnf >/dev/null 2>&1; then
    as_root dnf install -y -q \
        gcc make autoconf automake libtool pkgconf-pkg-config \
        nss-devel nspr-devel p11-kit-devel p11-kit-trust ca-certificates \
        python3 python3-devel python3-pytest python3-cryptography python3-mypy \
        openssl gnutls-utils nss-tools \
        p11-kit softhsm opensc zlib-devel sqlite-devel python3-matplotlib \
        rpm-build rpmlint curl \
        python3-aiosmtpd python3-pyftpdlib python3-requests python3-httpx python3-h2 \
        python3-aiohttp python3-websockets python3-tornado python3-uvicorn \
        python3-hypercorn python3-pyOpenSSL wrk
else
    echo "$0: neither apt-get nor dnf found; install the packages listed in README.md by hand" >&2
    exit 1
fi

PYTHON=/usr/bin/python3
if [ ! -x "$PYTHON" ]; then
    echo "$0: $PYTHON is missing; the distribution's Python 3 is needed" >&2
    exit 1
fi

autoreconf -fi
./configure --quiet PYTHON="$PYTHON" --prefix="$PWD/_install"
make -j"$(nproc 2>/dev/null || echo 2)"

case $job in
bench)
    make bench
    ;;
demo)
    make install >/dev/null
    PYTHONPATH="$(make -s print-pyexecdir)" "$PYTHON" -m tls_nss demo
    ;;
check)
    make check PYTEST_FLAGS="-ra"
    make check-sanitizers PYTEST_FLAGS="-ra"
    make check-interpreters
    make rpm
    fedora_nss=${NSS_FEDORA_DIR:-../shared/nss-fedora}
    if [ -x "$fedora_nss/build.sh" ] || [ -f "$fedora_nss/build.sh" ]; then
        sources=$(cd "$fedora_nss" && cat build.sh ./*.tar.* | cksum | cut -d' ' -f1)
        prefix=${XDG_CACHE_HOME:-$HOME/.cache}/tls-nss/nss-fedora-$sources
        mkdir -p "$prefix/policy"
        if [ ! -f "$prefix/lib/pkgconfig/nss.pc" ]; then
            echo "building Fedora's NSS from $fedora_nss into $prefix (about 6 minutes)"
            bash "$fedora_nss/build.sh" "$prefix" "$prefix/policy"
        fi
        # The system policy this NSS applies by itself, as Fedora's does;
        # DEFAULT is left in place afterwards.
        check_fedora_nss() {
            cp "$1" "$prefix/policy/nss.config"
            shift
            make check-nss NSS_PREFIX="$prefix" NSS_POLICY_FILE="$prefix/policy/nss.config" \
                PYTEST_FLAGS="-ra" "$@"
        }
        check_fedora_nss policy/default-policy.config
        check_fedora_nss tests/data/policies/FIPS.config NSS_FIPS=1
        cp policy/default-policy.config "$prefix/policy/nss.config"
    else
        echo "no second NSS at $fedora_nss: tested on the system's NSS only"
    fi
    ;;
esac
