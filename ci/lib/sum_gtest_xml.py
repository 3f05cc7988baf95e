"""Sums GoogleTest XML results of every leg (and the interop leg's JUnit XML,
which has the same testcase/failure/skipped shape) and prints the closing
line "tests: N passed, N failed, N skipped"."""
import glob
import os
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for directory in sys.argv[1:]:
    for path in sorted(glob.glob(os.path.join(directory, "*.xml"))):
        leg = os.path.basename(os.path.dirname(directory.rstrip("/")))
        root = ET.parse(path).getroot()
        p = f = s = 0
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                f += 1
            elif case.get("result") == "skipped" or case.find("skipped") is not None:
                s += 1
            else:
                p += 1
        print(f"{leg:26} {os.path.basename(path):28} {p} passed, {f} failed, {s} skipped")
        passed, failed, skipped = passed + p, failed + f, skipped + s
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
