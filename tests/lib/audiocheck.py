#!/usr/bin/env python3
"""audiocheck.py wav|mp3 FILE - check an audio file the way a decoder
would, and print what it holds on one line (for the speech tests).

wav: a canonical PCM WAVE file: "RIFF" <size = file size - 8> "WAVE",
     a 16-byte "fmt " chunk, then a "data" chunk running to the end of
     the file. Prints
       wav format=1 channels=C rate=R bits=B byterate=N align=A data=D
mp3: MPEG audio frames from the first byte to the last, nothing else
     (no ID3 tag): each frame header has the 11-bit sync word, a valid
     version, layer, bit rate and sampling rate, and its length leads
     to the next header or exactly to the end. Every frame must have
     the same version, layer, bit rate, rate and mode (constant bit
     rate). Prints
       mp3 MPEG-V layer III KBPS kbit/s RATE Hz mono|stereo frames=N samples=S

Exit 0 when the file checks out, 1 (with the reason on stderr) when not.
Python 3 standard library only.
"""

import struct
import sys

# bit rates (kbit/s) of layer III by index, MPEG-1 and MPEG-2/2.5
KBPS = {1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
        2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]}
RATES = {1: [44100, 48000, 32000], 2: [22050, 24000, 16000],
         25: [11025, 12000, 8000]}
VERSIONS = {3: 1, 2: 2, 0: 25}           # header bits -> MPEG version
LAYERS = {1: 3, 2: 2, 3: 1}              # header bits -> layer


def fail(msg):
    sys.stderr.write("audiocheck: %s\n" % msg)
    sys.exit(1)


def wav(b):
    if len(b) < 44 or b[0:4] != b"RIFF" or b[8:12] != b"WAVE":
        fail("not a RIFF WAVE file")
    if struct.unpack("<I", b[4:8])[0] != len(b) - 8:
        fail("RIFF size %d, file size - 8 is %d"
             % (struct.unpack("<I", b[4:8])[0], len(b) - 8))
    if b[12:16] != b"fmt " or struct.unpack("<I", b[16:20])[0] != 16:
        fail("no 16-byte fmt chunk first")
    fmt, ch, rate, brate, align, bits = struct.unpack("<HHIIHH", b[20:36])
    if align != ch * bits // 8 or brate != rate * align:
        fail("inconsistent fmt chunk")
    if b[36:40] != b"data":
        fail("no data chunk after fmt")
    data = struct.unpack("<I", b[40:44])[0]
    if data != len(b) - 44:
        fail("data size %d, %d bytes follow" % (data, len(b) - 44))
    print("wav format=%d channels=%d rate=%d bits=%d byterate=%d align=%d "
          "data=%d" % (fmt, ch, rate, bits, brate, align, data))


def mp3(b):
    off, frames, first = 0, 0, None
    while off < len(b):
        if len(b) - off < 4:
            fail("%d stray bytes at the end" % (len(b) - off))
        h = struct.unpack(">I", b[off:off + 4])[0]
        if h >> 21 != 0x7FF:
            fail("no frame sync at byte %d" % off)
        vbits, lbits = h >> 19 & 3, h >> 17 & 3
        bri, sri, pad, mode = h >> 12 & 15, h >> 10 & 3, h >> 9 & 1, h >> 6 & 3
        if vbits not in VERSIONS or lbits not in LAYERS or bri in (0, 15) \
                or sri == 3:
            fail("bad frame header %08x at byte %d" % (h, off))
        ver, layer = VERSIONS[vbits], LAYERS[lbits]
        if layer != 3:
            fail("layer %d at byte %d, not layer III" % (layer, off))
        kbps = KBPS[1 if ver == 1 else 2][bri]
        rate = RATES[ver][sri]
        this = (ver, kbps, rate, mode)
        if first is None:
            first = this
        elif this != first:
            fail("frame at byte %d differs from the first" % off)
        per = 144 if ver == 1 else 72   # bytes per kbit/s per frame
        length = per * kbps * 1000 // rate + pad
        off += length
        frames += 1
    if off != len(b) or frames == 0:
        fail("the last frame runs past the end")
    ver, kbps, rate, mode = first
    print("mp3 MPEG-%s layer III %d kbit/s %d Hz %s frames=%d samples=%d"
          % ({1: "1", 2: "2", 25: "2.5"}[ver], kbps, rate,
             "mono" if mode == 3 else "stereo", frames,
             frames * (1152 if ver == 1 else 576)))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("wav", "mp3"):
        sys.stderr.write("usage: audiocheck.py wav|mp3 FILE\n")
        sys.exit(2)
    with open(sys.argv[2], "rb") as f:
        b = f.read()
    (wav if sys.argv[1] == "wav" else mp3)(b)


main()
