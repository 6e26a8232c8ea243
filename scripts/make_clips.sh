#!/usr/bin/env bash
# Makes the video clips the video tests decode (tests/runtime/video.rs, tests/cli/video.rs),
# with the ffmpeg command line (scripts/video-env.sh installs it): small synthetic clips in
# several codecs and containers, with B-frames, an odd frame size, a variable frame rate and a
# mid-stream size change; and the bad inputs (truncated, no video stream, text named .mp4, a
# codec no decoder knows, damage midway). About 3 s on one core.
#
#   bash scripts/make_clips.sh OUT_DIR
set -euo pipefail
images="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.fixtures/images"
out="${1:?usage: make_clips.sh OUT_DIR}"
mkdir -p "$out"
cd "$out"
ff=(ffmpeg -hide_banner -loglevel error -y)
# A moving test pattern with a frame counter; -bf 3 gives B-frames, so decode order differs
# from presentation order.
src() { echo "testsrc2=size=$1:rate=$2:duration=$3"; }

"${ff[@]}" -f lavfi -i "$(src 160x120 25 2)" -c:v libx264 -bf 3 -g 12 -pix_fmt yuv420p h264_bframes.mp4
"${ff[@]}" -f lavfi -i "$(src 160x120 25 1)" -c:v libx264 -pix_fmt yuv420p h264.mov
"${ff[@]}" -f lavfi -i "$(src 160x120 25 1)" -c:v libx265 -x265-params log-level=none -pix_fmt yuv420p h265.mkv
"${ff[@]}" -f lavfi -i "$(src 160x120 25 1)" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 vp9.webm
"${ff[@]}" -f lavfi -i "$(src 160x120 25 1)" -c:v mpeg4 -q:v 5 mpeg4.avi
"${ff[@]}" -f lavfi -i "$(src 160x120 25 0.6)" -c:v libaom-av1 -cpu-used 8 -row-mt 1 -crf 40 av1.mkv
# An odd frame size (4:4:4, as 4:2:0 needs even sides).
"${ff[@]}" -f lavfi -i "$(src 160x120 25 1)" -vf scale=161:121 -c:v libx264 -pix_fmt yuv444p odd_size.mkv
# A variable frame rate: every fifth frame is held three times as long.
"${ff[@]}" -f lavfi -i "$(src 160x120 25 2)" -vf "setpts='(N+2*floor(N/5))/25/TB'" -fps_mode vfr \
    -c:v libx264 -pix_fmt yuv420p vfr.mkv
# A mid-stream size change: two MPEG-TS segments of different sizes, the second's times
# following the first's, joined byte for byte (as a broadcast switching resolution).
"${ff[@]}" -f lavfi -i "$(src 160x120 25 1)" -c:v libx264 -pix_fmt yuv420p part1.ts
"${ff[@]}" -f lavfi -i "$(src 128x96 25 1)" -c:v libx264 -pix_fmt yuv420p -output_ts_offset 1.2 part2.ts
cat part1.ts part2.ts > size_change.ts
rm part1.ts part2.ts
# Something to detect: the astronaut's face crossing the coffee photo (as tests/support's
# face_clip draws it frame by frame), 10 frames/s, H.264 with B-frames.
"${ff[@]}" -framerate 10 -loop 1 -i "$images/coffee.png" -framerate 10 -loop 1 -i "$images/astronaut.png" -filter_complex \
    "[0]scale=480:360[bg];[1]crop=170:170:140:50,scale=120:120[face];[bg][face]overlay=x='10+25*n':y=110,format=yuv420p" \
    -r 10 -frames:v 16 -c:v libx264 -bf 3 faces.mp4

mkdir -p bad
# Cut in half: the index (moov, written last) is gone.
head -c "$(( $(stat -c %s h264_bframes.mp4) / 2 ))" h264_bframes.mp4 > bad/truncated.mp4
# Sound only.
"${ff[@]}" -f lavfi -i "sine=frequency=440:duration=1" -c:a aac bad/audio_only.mp4
printf 'this is a text file, not a video\n' > bad/text.mp4
# A codec no decoder knows: the Matroska codec id renamed (same length, so the file stays valid).
"${ff[@]}" -f lavfi -i "$(src 160x120 25 1)" -c:v libx264 -pix_fmt yuv420p unknown_codec.mkv
LC_ALL=C sed 's|V_MPEG4/ISO/AVC|V_MPEG4/ISO/XYZ|' unknown_codec.mkv > bad/unknown_codec.mkv
rm unknown_codec.mkv
# Damage midway: 2 kB of the coded pictures past the file's middle overwritten with noise
# (the index, written last, stays intact).
cp h264_bframes.mp4 bad/damaged.mp4
size=$(stat -c %s bad/damaged.mp4)
head -c 2048 /dev/urandom | dd of=bad/damaged.mp4 bs=1 seek=$(( size * 55 / 100 )) conv=notrunc status=none
