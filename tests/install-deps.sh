#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs every Debian package that building popgate, its tests, its fuzzers,
# its benchmark and its demo need, with apt-get. Idempotent; needs root (or
# sudo). On a workstation it only installs what is missing; with CI=true (a
# fresh machine) it always refreshes the package lists and installs them all.
# systemd is here for `systemd-analyze verify` of the unit (tests/package.sh);
# in a container it is only files: policy-rc.d below keeps apt from starting
# anything, and without systemd as PID 1 its scripts start nothing either.
set -eu

PACKAGES="build-essential cmake pkg-config clang clang-tidy libclang-rt-14-dev
libuv1-dev libssl-dev libetpan-dev libcmocka-dev
libcurl4-gnutls-dev libcurl4 libjansson-dev libcrypt-dev libsqlite3-dev
dovecot-imapd dovecot-pop3d curl fetchmail mpop python3 openssl procps
debhelper dpkg-dev ssl-cert mandoc haproxy systemd util-linux mount"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ "${CI:-}" = true ]; then
	missing=$(echo $PACKAGES)
elif [ -z "$missing" ]; then
	exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# The tests run their own private Dovecot; keep apt from starting the system
# one (no systemd here, or a surprise on a workstation).
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	created_policy=1
fi
echo "installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
if [ -n "$created_policy" ]; then
	$SUDO rm -f /usr/sbin/policy-rc.d
fi
