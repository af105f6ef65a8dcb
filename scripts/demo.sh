#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The main job: set up, build, boot the guest, load rtun, provoke drops, and show
# them the way a user debugging packet loss sees them: trace_pipe lines with the
# reason and a location inside rtun, bpftrace's counts by reason and rtun
# function, ip -s link, ethtool -S and rtunctl top.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

prepare
exec "$RTUN_TOP/scripts/guest.sh" sh /tests/guest/demo.sh
