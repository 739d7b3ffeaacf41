"""Run one container's process inside a private mount namespace, the way a container runtime would lay out
its filesystem. Executed as a script by :mod:`tests.e2e_injection.podrunner` under
``unshare --mount --propagation private --pid --fork``; it reads a JSON plan from ``argv[1]``:

``newroot``   an empty directory that becomes the container's ``/`` (a tmpfs is mounted on it)
``images``    image trees whose top-level entries are bind-mounted at ``/<entry>`` (the image's own files)
``base``      true: the host's top-level directories are bind-mounted first (the app "image" is the host
              system with the image's files on top); false: only the image trees and /proc, /dev, /sys
``mounts``    ``[{source, target, readOnly}]``: the pod's volumes at the container's mount paths
``readOnlyRoot``, ``uid``, ``gid``, ``workingDir``, ``argv``, ``env``  as in the container spec

Only mount namespaces are changed; nothing on the host filesystem is created outside ``newroot``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SYSTEM = ("proc", "dev", "sys")


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def bind(source: str, target: str, read_only: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()
    mount("--rbind", source, target)
    if read_only:
        mount("-o", "remount,bind,ro", target)


def main() -> None:
    with open(sys.argv[1]) as handle:
        plan = json.load(handle)
    root = plan["newroot"]
    mount("-t", "tmpfs", "-o", "mode=0755", "hodegos-pod-root", root)
    ro = bool(plan["readOnlyRoot"])
    image_entries = {entry for image in plan["images"] for entry in os.listdir(image)}
    for entry in sorted(os.listdir("/")):
        path = "/" + entry
        if entry in image_entries or not (plan["base"] or entry in SYSTEM):
            continue
        if os.path.islink(path):
            os.symlink(os.readlink(path), os.path.join(root, entry))
        elif os.path.isdir(path) or os.path.isfile(path):
            bind(path, os.path.join(root, entry), ro and entry not in SYSTEM)
    for image in plan["images"]:
        for entry in sorted(os.listdir(image)):
            bind(os.path.join(image, entry), os.path.join(root, entry), ro)
    for volume in plan["mounts"]:
        bind(volume["source"], os.path.join(root, volume["target"].lstrip("/")), bool(volume["readOnly"]))
    if ro:
        mount("-o", "remount,bind,ro", root)
    os.chroot(root)
    os.chdir(plan["workingDir"] or "/")
    if plan["gid"] is not None:
        os.setgroups([])
        os.setgid(plan["gid"])
    if plan["uid"] is not None:
        os.setuid(plan["uid"])
    argv = plan["argv"]
    os.execvpe(argv[0], argv, plan["env"])


if __name__ == "__main__":
    main()
