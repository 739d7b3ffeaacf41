"""`hodegos images build | lock | check`: Hodegos's own container images as OCI archives (what the chart
runs).

The archives load into a local cluster's nodes with `hodegos cluster load`; with a registry, push them with
any OCI tool (`skopeo copy oci-archive:FILE docker://REGISTRY/NAME:TAG`) and install with
`--set image.registry=REGISTRY`.
"""

from __future__ import annotations

import typer

from cli.output import Format, emit, fail, stderr

app = typer.Typer(
    help="Hodegos's own images: build the archives, pin their dependencies.", no_args_is_help=True
)


def _say(message: str) -> None:
    stderr.print(f"[dim]{message}[/dim]", highlight=False)


@app.command("build")
def build(
    names: list[str] = typer.Argument(
        None, help="hodegos, hodegos-agent or hodegos-collector (default: all)."
    ),
    registry: str = typer.Option("hodegos", "--registry", help="The images' registry and path."),
    tag: str | None = typer.Option(None, "--tag", help="The tag (default: the project's version)."),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """Write the image archives (cached: an image whose inputs did not change is not rebuilt)."""
    from toolchain import productimages
    from toolchain.images import ImageError

    try:
        built = productimages.build(names or productimages.NAMES, registry, tag, progress=_say)
    except (ImageError, OSError) as exc:
        fail(str(exc))
    rows = [
        {"name": b.name, "ref": b.ref, "digest": b.digest, "archive": str(b.archive), "size": b.size,
         "unpacked": b.unpacked}
        for b in built
    ]  # fmt: skip
    if output in (Format.json, Format.yaml):
        emit({"images": rows}, output)
        return
    print(f"{'IMAGE':34} {'ARCHIVE MiB':>11} {'UNPACKED MiB':>12}  ARCHIVE")
    for b in built:
        print(f"{b.ref:34} {b.size / 2**20:11.1f} {b.unpacked / 2**20:12.1f}  {b.archive}")


@app.command("lock")
def lock() -> None:
    """Re-pin the images' Python dependencies (with hashes) at this virtualenv's versions."""
    from toolchain import productimages
    from toolchain.images import ImageError

    try:
        print(productimages.write_lock(_say))
    except (ImageError, OSError) as exc:
        fail(str(exc))


@app.command("check")
def check() -> None:
    """Fail if the images' pinned dependencies differ from this virtualenv's (what the tests ran)."""
    from toolchain import productimages

    drift = productimages.lock_drift()
    if drift:
        fail(
            "the images' lock differs from the virtualenv; run `hodegos images lock`:\n  "
            + "\n  ".join(drift)
        )
    print("the images' lock matches the virtualenv")
