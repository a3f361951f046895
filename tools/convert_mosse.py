#!/usr/bin/env python3
"""clmtrackr 1.1.2's MOSSE filters for the eyes and nose (the ones its face detector uses to place
the model on a detected box) → assets/models/clmtrackr-mosse.json.

  npm pack clmtrackr@1.1.2 && tar xzf clmtrackr-1.1.2.tgz
  python3 tools/convert_mosse.py package/build/clmtrackr.js assets/models/clmtrackr-mosse.json

Each filter: width, height and the real and imaginary parts of its 2-D DFT, row-major (y·width+x),
as clmtrackr stores them. clmtrackr is MIT (Audun Mathias Øygard).
"""
import json, sys

src = open(sys.argv[1]).read()
dec = json.JSONDecoder()
out = {"format": "headroom-mosse", "version": 1,
       "source": "clmtrackr 1.1.2 build/clmtrackr.js (MIT): left_eye_filter, right_eye_filter, nose_filter",
       "filters": {}}
for name in ["left_eye_filter", "right_eye_filter", "nose_filter"]:
    at = src.index(f"var {name} = ") + len(f"var {name} = ")
    obj, _ = dec.raw_decode(src[at:])
    w, h = obj["width"], obj["height"]
    assert len(obj["real"]) == w * h == len(obj["imag"]), name
    out["filters"][name.replace("_filter", "")] = {"width": w, "height": h, "real": obj["real"], "imag": obj["imag"]}
    print(name, w, h, "top/bottom" if "top" in obj else "")
json.dump(out, open(sys.argv[2], "w"), separators=(",", ":"))
