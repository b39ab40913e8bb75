#!/usr/bin/env python3
"""Prints the one summary line "N passed, N failed" over meson testlogs and pytest junit files.

Usage: summarize-tests.py FILE...  (*.json: a meson testlog; anything else: a junit XML;
a file that does not exist counts nothing).

A TAP test (GTest) contributes one count per "ok"/"not ok" line; a non-TAP meson test counts
once.  Skips are reported but count as neither.  Exit status 1 if anything failed."""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0


def meson(path):
    global passed, failed, skipped
    if not os.path.exists(path):
        return
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            result = t.get("result")
            tap = [l for l in (t.get("stdout") or "").splitlines()
                   if re.match(r"^(not )?ok \d+", l)]
            if tap:
                for l in tap:
                    if "# SKIP" in l:
                        skipped += 1
                    elif l.startswith("ok"):
                        passed += 1
                    else:
                        failed += 1
                if result not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(
                        l.startswith("not ok") for l in tap):
                    failed += 1  # crashed after its last TAP line
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1


def junit(path):
    global passed, failed, skipped
    if not os.path.exists(path):
        return
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1


for path in sys.argv[1:]:
    if path.endswith(".json"):
        meson(path)
    else:
        junit(path)
extra = f" ({skipped} skipped)" if skipped else ""
print(f"{passed} passed, {failed} failed{extra}")
sys.exit(1 if failed else 0)
