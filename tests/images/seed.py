# SPDX-License-Identifier: Apache-2.0
"""Small stand-ins for the images the seeds name (python:3.12, node:20), for
SDK tests that run the seeds' code as written without the internet.

Each is the busybox layer of build.py with a config naming it
(SEED_IMAGE=python:3.12 in its Env), pushed to a registry as NAME:TAG and
written as an OCI image layout directory, which `msb load --tag
python:3.12` (msb_image_load) stores under the seed's own short name.

    python3 seed.py http://127.0.0.1:5000 OUTDIR
        pushes python:3.12 and node:20, writes OUTDIR/python-3.12 and
        OUTDIR/node-20; prints {"python:3.12": "OUTDIR/python-3.12", ...}
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build  # noqa: E402

SEEDS = ["python:3.12", "node:20"]


def image(ref):
    cfg = {"Env": [build.PATH_ENV, f"SEED_IMAGE={ref}"], "Cmd": ["sh"]}
    return build.Image([(build.busybox_layer(), "gzip")], cfg)


def main(base, out):
    reg = build.Registry(base) if base != "-" else None
    layouts = {}
    for ref in SEEDS:
        img = image(ref)
        name, tag = ref.split(":")
        if reg:
            reg.push(name, tag, img)
        d = os.path.join(out, ref.replace(":", "-"))
        build.write_layout(img, d, ref)
        layouts[ref] = d
    print(json.dumps(layouts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
