#!/usr/bin/env bash
# Prepare video decoding (the runtime's and the CLI's `video` feature): Debian's FFmpeg
# development libraries, which `ffmpeg-next` links through pkg-config, `libclang-dev` for its
# bindgen step, `libavdevice-dev` for the `camera` feature (V4L2; `cargo doc --all-features`
# builds it too), and the `ffmpeg`/`ffprobe` programs the tests make and check clips with
# (scripts/make_clips.sh). A fast no-op when ready.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/apt-packages.sh"
apt_install_missing video-env pkg-config libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavdevice-dev ffmpeg
pkg-config --exists libavcodec libavformat libavutil libswscale \
    || { echo "video-env: pkg-config still finds no FFmpeg libraries after apt-get" >&2; exit 1; }
