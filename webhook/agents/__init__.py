"""The language agent images Hodegos injects: one build recipe per language, and a local cache of the builds.

Each ``webhook/agents/<lang>/`` directory holds a ``Dockerfile`` and the ``build.sh OUTDIR`` it runs, plus the
pinned manifests. ``build.sh`` writes the image's file tree (``OUTDIR/autoinstrumentation/...``), which the
image copies onto busybox. :mod:`webhook.agents.building` runs the same scripts on this machine to build the
trees into the local cache, where the end-to-end injection tests "run" the mutated pods from them.
"""
