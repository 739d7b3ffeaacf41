"""One server ``ssl.SSLContext`` whose certificate is replaced in place when the files change.

uvicorn builds its SSL context once at start-up. We hand it ours instead and keep the reference: calling
``load_cert_chain`` again on a live context makes every *new* handshake present the new certificate, while
connections already open keep theirs, so nothing is dropped.
:meth:`ReloadingContext.reload_if_changed` must run on the event loop's thread (the server polls it from an
asyncio task): handshakes happen on that thread, so no handshake can observe a half-loaded certificate.

A new pair is first loaded into a scratch context from a private snapshot of the files; only a pair whose key
matches (and that parses) reaches the live context. A rotation caught half-written keeps the old certificate
until the next poll.

The context speaks TLS 1.2 or newer and offers only ``http/1.1`` over ALPN (no HTTP/2, see the Rapid Reset
advisories).
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from certs.errors import MaterialError

log = logging.getLogger(__name__)

_Stamp = tuple[int, ...]


def server_context() -> ssl.SSLContext:
    """A fresh server context: TLS >= 1.2, ALPN http/1.1 only, no compression, no session tickets."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
    return context


@dataclass(frozen=True)
class Loaded:
    """The certificate currently served."""

    serial: int
    not_after: datetime
    loaded_at: datetime


class ReloadingContext:
    """The live context plus the files it was loaded from; :meth:`reload_if_changed` picks up new files."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = server_context()
        self.loaded: Loaded | None = None
        self.reloads = 0
        self.failures = 0
        self.last_error: str | None = None
        self._stamp: _Stamp | None = None
        self._pair: tuple[bytes, bytes] | None = None
        self.reload_if_changed()

    def reload_if_changed(self) -> bool:
        """Load the files if they changed since the last load; True when a new certificate is now served."""
        stamp = self._stamp_of()
        if stamp is None or stamp == self._stamp:
            return False
        try:
            pair = (self.cert_file.read_bytes(), self.key_file.read_bytes())
            if pair == self._pair:  # rewritten with the same content: nothing to do
                self._stamp = stamp
                return False
            loaded = self._load(*pair)
        except (OSError, ssl.SSLError, MaterialError, ValueError) as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning("certificate in %s not loaded (keeping the current one): %s", self.cert_file, exc)
            return False
        self._stamp = stamp
        self._pair = pair
        first = self.loaded is None
        self.loaded = loaded
        self.last_error = None
        if not first:
            self.reloads += 1
        log.info("serving certificate serial %x, valid until %s", loaded.serial, loaded.not_after.isoformat())
        return True

    def _stamp_of(self) -> _Stamp | None:
        # stat follows symlinks, so a Secret volume's atomic `..data` swap changes the stamp too.
        try:
            cert, key = self.cert_file.stat(), self.key_file.stat()
        except OSError:
            return None
        return (cert.st_ino, cert.st_mtime_ns, cert.st_size, key.st_ino, key.st_mtime_ns, key.st_size)

    def _load(self, cert_pem: bytes, key_pem: bytes) -> Loaded:
        leaf = x509.load_pem_x509_certificate(cert_pem)
        with tempfile.TemporaryDirectory(prefix="hodegos-tls-") as tmp:
            cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert_path.write_bytes(cert_pem)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key_pem)
            server_context().load_cert_chain(cert_path, key_path)  # validates the pair off to the side
            self.context.load_cert_chain(cert_path, key_path)
        return Loaded(
            serial=leaf.serial_number,
            not_after=leaf.not_valid_after_utc,
            loaded_at=datetime.now().astimezone(),
        )

    @property
    def ready(self) -> bool:
        return self.loaded is not None
