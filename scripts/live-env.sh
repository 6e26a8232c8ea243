#!/usr/bin/env bash
# Prepare the live-source tests and bench (tests/runtime/live.rs, tests/cli/live.rs,
# bench/live_rtsp.sh): GStreamer's RTSP server library with its Python bindings (Debian's
# python3-gi, at /usr/bin/python3) and the plugins tests/live/rtsp_server.py streams with
# (videotestsrc, imagefreeze, jpegenc, rtpjpegpay, decodebin). Debian has no `test-launch`
# binary, hence the script. Versions are pinned where Debian 12 keeps them fixed; the
# GStreamer plugins follow Debian's security updates (+deb12uN), so they are not. A fast no-op
# when ready.
set -euo pipefail

packages=(
    gir1.2-gst-rtsp-server-1.0=1.22.0-2
    python3-gi=3.42.2-3+b1
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
)
source "$(dirname "${BASH_SOURCE[0]}")/apt-packages.sh"
apt_install_missing live-env "${packages[@]}"
/usr/bin/python3 - <<'PY' || { echo "live-env: GStreamer's RTSP server is not usable from /usr/bin/python3" >&2; exit 1; }
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
for element in ("videotestsrc", "imagefreeze", "jpegenc", "rtpjpegpay", "decodebin"):
    assert Gst.ElementFactory.find(element), element
PY
