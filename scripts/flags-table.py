#!/usr/bin/env python3
"""Prints the README's flag table from `streamgate --help` (usage: streamgate --help | this)."""
import re
import sys

rows = []
cur = None
for line in sys.stdin.read().split("\n"):
    m = re.match(r"^      (--[a-z0-9-]+)( <[A-Z_]+>)?$", line)
    if m:
        cur = {"flag": m.group(1), "desc": [], "env": "", "default": ""}
        rows.append(cur)
        continue
    if cur is None:
        continue
    s = line.strip()
    if s.startswith("-h, --help"):
        break
    if s.startswith("[env: "):
        cur["env"] = s[6:-1].rstrip("=")
    elif s.startswith("[default: "):
        cur["default"] = s[10:-1]
    elif s.startswith("Possible values") or s.startswith("- "):
        continue
    elif s:
        cur["desc"].append(s)

print("| flag | environment | default | meaning |")
print("|---|---|---|---|")
for r in rows:
    if r["flag"] in ("--help", "--version"):
        continue
    default = "`%s`" % r["default"] if r["default"] else "unset"
    env = "`%s`" % r["env"] if r["env"] else ""
    print("| `%s` | %s | %s | %s |" % (r["flag"], env, default, " ".join(r["desc"])))
