#!/usr/bin/python3
"""A small RTSP server for the live-source tests and bench: rtsp://127.0.0.1:PORT/live.

It streams one picture (--image, held still) or GStreamer's test pattern, at --size and --fps,
as RTP/JPEG (MJPEG: light to encode, every frame a key frame), to every client that connects.
It prints `ready rtsp://127.0.0.1:PORT/live` on stdout once it listens, and runs until killed
or until --seconds pass. Packages: scripts/live-env.sh (GStreamer's RTSP server library,
python3-gi, gstreamer1.0-plugins-base and -good).
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(args: argparse.Namespace) -> str:
    width, height = (int(part) for part in args.size.split("x"))
    caps = f"video/x-raw,format=I420,width={width},height={height},framerate={args.fps}/1"
    if args.image:
        source = (
            f'filesrc location="{args.image}" ! decodebin ! videoconvert ! videoscale ! '
            f"imagefreeze is-live=true ! videorate"
        )
    else:
        source = "videotestsrc is-live=true pattern=ball"
    return f"( {source} ! videoconvert ! videoscale ! {caps} ! jpegenc quality=85 ! rtpjpegpay name=pay0 pt=26 )"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the frames sent")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--image", help="a picture to stream, held still (else a test pattern)")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    # One pipeline for all clients: a reconnecting client joins the running stream.
    factory.set_shared(True)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        print(f"could not listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"ready rtsp://127.0.0.1:{args.port}/live", flush=True)
    loop = GLib.MainLoop()
    GLib.timeout_add(int(args.seconds * 1000), loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
