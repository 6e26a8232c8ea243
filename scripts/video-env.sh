#!/usr/bin/env bash
# Prepare video decoding (the runtime's and the CLI's `video` feature): Debian's FFmpeg
# development libraries, which `ffmpeg-next` links through pkg-config, `libclang-dev` for its
# bindgen step, and the `ffmpeg`/`ffprobe` programs the tests make and check clips with
# (scripts/make_clips.sh). A fast no-op when ready.
set -euo pipefail

packages=(pkg-config libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "video-env: installing ${missing[*]}" >&2
    sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
pkg-config --exists libavcodec libavformat libavutil libswscale \
    || { echo "video-env: pkg-config still finds no FFmpeg libraries after apt-get" >&2; exit 1; }
