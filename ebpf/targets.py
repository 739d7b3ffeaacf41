"""What to attach where in one Go executable: probe addresses, RET sites and struct field offsets.

Pure analysis of the file (no BPF): ``analyze(path)`` returns a :class:`Plan` or raises a
:class:`~ebpf.errors.NotTraceable` subclass whose message is the reason. Functions come from ``.symtab``,
else the pclntab; offsets from the binary's DWARF, else the generated per-Go-version table. It runs in the
helper process (:mod:`ebpf.helper`); the tracer caches plans per executable file.
"""

from __future__ import annotations

from pathlib import Path

from ebpf import dwarfinfo, offsets, pclntab
from ebpf.elfimage import ElfImage, parse_go_version
from ebpf.errors import FunctionMissing, OffsetUnknown, UnsupportedGo
from ebpf.plan import Plan, Probe
from ebpf.returns import find_returns

MIN_GO = (1, 18)

SERVER = "net/http.serverHandler.ServeHTTP"
HEADER_LINE = "net/textproto.(*Reader).readContinuedLineSlice"
CLIENT = "net/http.(*Transport).roundTrip"

# BPF `struct offsets_t` member -> the Go struct field it holds; the order is the C struct's.
FIELDS: dict[str, str] = {
    "req_method": "net/http.Request.Method",
    "req_url": "net/http.Request.URL",
    "req_proto_major": "net/http.Request.ProtoMajor",
    "req_remote_addr": "net/http.Request.RemoteAddr",
    "url_scheme": "net/url.URL.Scheme",
    "url_host": "net/url.URL.Host",
    "url_path": "net/url.URL.Path",
    "response_status": "net/http.response.status",
    "client_response_status": "net/http.Response.StatusCode",
}


def resolve_offsets(image: ElfImage, version: str, table: Path = offsets.TABLE) -> tuple[dict[str, int], str]:
    wanted = set(FIELDS.values())
    found: dict[str, int] = {}
    if dwarfinfo.has_dwarf(image):
        found = dwarfinfo.struct_offsets(image, wanted)
        if set(found) >= wanted:
            return {key: found[go] for key, go in FIELDS.items()}, "dwarf"
    row = offsets.for_version(version, table)
    if row is not None and set(row) >= wanted:
        return {key: row[go] for key, go in FIELDS.items()}, f"table:{version}"
    if found:
        missing = sorted(wanted - set(found))
        raise OffsetUnknown(
            f"{image.path}: DWARF lacks {', '.join(missing)} and {version} is not in the offset table; "
            "refusing to attach rather than read wrong fields"
        )
    known = offsets.known_versions(table)
    raise OffsetUnknown(
        f"{image.path}: stripped binary built with {version}, which is not in the generated offset table "
        f"(known: {', '.join(known) or 'none'}); rebuild without -w or regenerate ebpf/offsets for it"
    )


def analyze(path: str | Path, table: Path = offsets.TABLE) -> Plan:
    image = ElfImage.open(path)
    if image.machine != "EM_X86_64":
        raise UnsupportedGo(f"{path}: {image.machine} binaries are not supported (amd64 only)")
    version = image.go_version  # raises NotGoBinary
    major, minor, _ = parse_go_version(version)
    if (major, minor) < MIN_GO and (major, minor) != (0, 0):
        raise UnsupportedGo(f"{path}: built with {version}; Go 1.18 or newer is needed (register ABI)")
    names = {SERVER, HEADER_LINE, CLIENT}
    funcs = {n: image.functions[n] for n in names if n in image.functions}
    if len(funcs) < len(names):
        funcs = {**pclntab.functions(image, names - set(funcs)), **funcs}
    if SERVER not in funcs:
        raise FunctionMissing(f"{path}: {SERVER} is not in the binary (the program serves no net/http)")
    found_offsets, source = resolve_offsets(image, version, table)

    def probe(name: str, entry_program: str | None, return_program: str) -> Probe:
        addr, size = funcs[name]
        rets = tuple(find_returns(image.read(addr, size), addr))
        return Probe(
            name,
            addr,
            rets,
            entry_program,
            return_program,
            image.file_offset(addr),
            tuple(image.file_offset(r) for r in rets),
        )

    probes = [probe(SERVER, "server_entry", "server_return")]
    if HEADER_LINE in funcs:
        probes.append(probe(HEADER_LINE, None, "header_return"))
    if CLIENT in funcs:
        probes.append(probe(CLIENT, "client_entry", "client_return"))
    for p in probes:
        if not p.returns:
            raise FunctionMissing(f"{path}: no RET instruction found in {p.function}")
    return Plan(
        path=str(path),
        go_version=version,
        build_id=image.build_id,
        stripped=not image.functions,
        pie=image.is_pie,
        offsets=found_offsets,
        offsets_source=source,
        probes=tuple(probes),
    )
