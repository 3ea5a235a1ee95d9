#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""reach.py - which functions a fuzz target's harness can reach.

    python3 fuzz/reach.py TARGET -- FUNCTION...
    python3 fuzz/reach.py --sources [--cflags '...'] SOURCE... -- FUNCTION...

Compiles each source of TARGET (the .c files and the -I and -D flags of
its rule in the Makefile, read from `make -n`; or the SOURCEs given, with
--cflags, words as a shell splits them, defaulting to the Makefile's
CPPFLAGS and SRC_INC) alone with -ffunction-sections -fdata-sections,
follows the relocations of each section from LLVMFuzzerTestOneInput's
(calls, and function pointers taken in code or in tables), and says for
each FUNCTION whether it is reachable and, if so, by one shortest path.
Run it from the top of the tree. A function not reachable is code the
target cannot run, so a change to it leaves the target's fuzzing standing
(docs/security.md). Reachable here means only that a path of calls
exists: whether the harness's inputs can take it is for a reader of the
path to judge. Exit status 1 if a FUNCTION is defined in none of the
sources. Example:

    python3 fuzz/reach.py artifact -- msb_home_ready
"""

import collections
import os
import re
import shlex
import subprocess
import sys
import tempfile


def tool(*argv):
    return subprocess.run(argv, capture_output=True, text=True,
                          check=True).stdout


def make_var(name):
    """A variable of the Makefile (its print-% rule), as words."""
    return shlex.split(tool("make", "-s", "--no-print-directory",
                            f"print-{name}"))


def graph(objs):
    """(where each symbol is defined: (object, section)), (what each
    section refers to: (object, symbol))."""
    defs, refs = {}, collections.defaultdict(set)
    for o in objs:
        for line in tool("objdump", "-t", o).splitlines():
            m = re.match(r"^[0-9a-f]+ (.{7}) (\S+)\s+[0-9a-f]+\s+(\S+)$", line)
            if m and m.group(2) != "*UND*":
                flags, sec, sym = m.groups()
                defs[sym if "g" in flags else (o, sym)] = (o, sec)
        sec = None
        for line in tool("objdump", "-r", o).splitlines():
            m = re.match(r"RELOCATION RECORDS FOR \[(?:\.rela)?(.*)\]:", line)
            if m:
                sec = (o, m.group(1))
                continue
            f = line.split()
            if sec and len(f) == 3 and re.fullmatch(r"[0-9a-f]+", f[0]):
                refs[sec].add((o, re.split(r"[+-]0x", f[2])[0]))
    return defs, refs


def rule(target):
    """The sources and the -I/-D flags of fuzz/TARGET's rule."""
    with tempfile.TemporaryDirectory(prefix="msb-reach-") as b:
        p = subprocess.run(["make", "-s", "-n", "--no-print-directory",
                            f"B={b}", f"{b}/fuzz/{target}"],
                           capture_output=True, text=True)
    words = shlex.split(p.stdout) if p.returncode == 0 else []
    sources = sorted({w for w in words if w.endswith(".c")})
    flags = [w for w in words if w.startswith(("-I", "-D"))]
    if not sources:
        sys.exit(f"reach.py: no rule builds fuzz/{target} "
                 f"(the targets are the Makefile's FUZZ: make -s print-FUZZ)")
    return sources, flags


def main(argv):
    if "--" not in argv or argv.index("--") == 0:
        sys.exit(__doc__)
    cut = argv.index("--")
    args, wanted = argv[:cut], argv[cut + 1:]
    if args[0] == "--sources":
        args, cflags = args[1:], None
        if args[:1] == ["--cflags"]:
            cflags, args = shlex.split(args[1]), args[2:]
        sources = args
        if cflags is None:
            cflags = make_var("CPPFLAGS") + make_var("SRC_INC")
    elif len(args) == 1:
        sources, cflags = rule(args[0])
    else:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix="msb-reach-") as tmp:
        objs = []
        for i, src in enumerate(sources):
            o = os.path.join(tmp, f"{i}.o")
            subprocess.run(["cc", "-c", "-O1", "-ffunction-sections",
                            "-fdata-sections", *cflags, "-o", o,
                            src], check=True)
            objs.append(o)
        defs, refs = graph(objs)

    def where(o, sym):
        return defs.get((o, sym)) or defs.get(sym) or \
            ((o, sym) if sym.startswith(".") else None)

    start = defs["LLVMFuzzerTestOneInput"]
    came = {start: None}
    todo = collections.deque([start])
    while todo:
        n = todo.popleft()
        for o, sym in refs.get(n, ()):
            d = where(o, sym)
            if d and d not in came:
                came[d] = n
                todo.append(d)
    missing = 0
    for fn in wanted:
        d = defs.get(fn)
        if d is None:
            print(f"{fn}: not defined in these sources")
            missing = 1
        elif d not in came:
            print(f"{fn}: not reachable")
        else:
            path = []
            while d:
                path.append(d[1].removeprefix(".text."))
                d = came[d]
            print(f"{fn}: reachable: " + " <- ".join(path))
    return missing


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
