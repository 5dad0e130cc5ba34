"""PAdES signatures on packets (pyHanko), the demo signing key, and `packet verify`.

The signature goes on last, as an incremental update, so the PDF/A-3b file underneath is
unchanged; verification re-checks the PDF/A identification after signing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import io
import json
import re
import secrets
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from flask import current_app

from compliance.packets.context import MANIFEST_NAME

if TYPE_CHECKING:
    from compliance.packets.models import Packet

SIGNATURE_FIELD = "PacketSignature"
DEMO_KEY_NAME = "demo-packet-signing.p12"


def _import_pyhanko() -> None:
    """Import pyHanko's signing modules without cryptography's DSA deprecation warning.

    cryptography 51 deprecated DSA, and pyHanko's CMS module imports the DSA key types to
    recognise DSA signatures, so the warning fires on import although we never sign with or
    accept DSA. Only that message from that module is silenced: any other deprecation still
    surfaces (and fails the tests, which turn warnings into errors). Python imports a module
    once, so every pyHanko use below calls this first.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="DSA is deprecated",
            category=CryptographyDeprecationWarning,
            module=r"pyhanko\.sign\.signers\.pdf_cms",
        )
        import pyhanko.sign.signers  # noqa: F401


def _load_signer() -> Any:
    _import_pyhanko()
    from pyhanko.sign import signers

    path = current_app.config.get("SIGNING_KEY_PATH")
    if not path or not Path(path).is_file():
        raise RuntimeError(
            "no signing key: set SIGNING_KEY_PATH (or run `compliance packet demo-key`)"
        )
    password = current_app.config.get("SIGNING_KEY_PASSWORD")
    signer = signers.SimpleSigner.load_pkcs12(
        path, passphrase=password.encode() if password else None
    )
    if signer is None:
        raise RuntimeError(f"cannot load the PKCS#12 key at {path} (wrong password?)")
    return signer


def signer_name() -> str:
    """The signing certificate's subject, as recorded on the packet."""
    return _load_signer().signing_cert.subject.human_friendly


def _outside_event_loop(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a pyHanko call; its synchronous API starts an asyncio loop of its own.

    That fails inside a thread whose loop is already running (a browser-test driver, an async
    server): there, the call runs on a short-lived worker thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args, **kwargs).result()


def sign_pdf(pdf: bytes, *, reason: str) -> bytes:
    """Add a PAdES signature over the whole file, as an incremental update."""
    _import_pyhanko()
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        reason=reason,
        location=current_app.config.get("PACKET_SIGNING_LOCATION", "Legal department"),
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    output = io.BytesIO()
    signer = _load_signer()  # here: it reads the app's configuration
    _outside_event_loop(signers.sign_pdf, writer, meta, signer=signer, output=output)
    return output.getvalue()


def make_demo_key(instance_path: str | Path) -> tuple[Path, str]:
    """A self-signed P-256 certificate and key as PKCS#12, for demos only."""
    folder = Path(instance_path) / "signing"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEMO_KEY_NAME
    password = secrets.token_urlsafe(18)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Demo Packet Signing (self-signed)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Meridian AI (demo)"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    blob = pkcs12.serialize_key_and_certificates(
        b"packet-signing",
        key,
        cert,
        None,
        serialization.BestAvailableEncryption(password.encode()),
    )
    path.write_bytes(blob)
    path.chmod(0o600)
    return path, password


# ---------------------------------------------------------------- verification
@dataclass
class Verification:
    ok: bool = True
    packet_id: int | None = None
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)


def embedded_manifest(data: bytes) -> dict[str, Any] | None:
    """The JSON manifest embedded in a packet PDF, or None when absent or unreadable."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        payload = reader.attachments.get(MANIFEST_NAME)
        return json.loads(payload[0]) if payload else None
    except Exception:  # noqa: BLE001 - a damaged file has no readable manifest
        return None


def pdfa_identification(data: bytes) -> tuple[str | None, str | None]:
    """(part, conformance) from the document's XMP metadata stream, e.g. ('3', 'B')."""
    from pypdf import PdfReader

    try:
        metadata = PdfReader(io.BytesIO(data)).trailer["/Root"]["/Metadata"].get_object()
        text = metadata.get_data().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - no readable metadata: not identified
        return None, None
    part = re.findall(r'pdfaid:part="(\d)"', text) or re.findall(r"<pdfaid:part>(\d)<", text)
    conformance = re.findall(r'pdfaid:conformance="([ABU])"', text) or re.findall(
        r"<pdfaid:conformance>([ABU])<", text
    )
    return (part[-1] if part else None, conformance[-1] if conformance else None)


def page_stamps(data: bytes, prefix: str) -> list[str | None]:
    """The Bates stamp read from each page's text (the last one on the page: lower right)."""
    from pypdf import PdfReader

    pattern = re.compile(rf"{re.escape(prefix)}-\d{{7}}")
    stamps = []
    for page in PdfReader(io.BytesIO(data)).pages:
        found = pattern.findall(page.extract_text() or "")
        stamps.append(found[-1] if found else None)
    return stamps


def _signature_status(data: bytes) -> tuple[int, list[str]]:
    """(signature count, problems) using pyHanko; trusted against our configured key's cert."""
    _import_pyhanko()
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    signatures = reader.embedded_signatures
    problems = []
    roots = []
    with contextlib.suppress(RuntimeError):
        roots = [_load_signer().signing_cert]
    for sig in signatures:
        status = _outside_event_loop(
            validate_pdf_signature, sig, ValidationContext(trust_roots=roots)
        )
        if not status.intact or not status.valid:
            problems.append(
                f"signature {sig.field_name!r} is broken: the signed bytes were altered"
            )
        elif status.coverage.name != "ENTIRE_FILE":
            problems.append(
                f"signature {sig.field_name!r} does not cover the whole file: "
                "content was added after signing"
            )
        elif roots and not status.trusted:
            problems.append(f"signature {sig.field_name!r} is not by the configured signing key")
    return len(signatures), problems


def verify_packet_file(data: bytes) -> Verification:
    """Check a packet file against the registry (hash, Bates range) and its signature."""
    result = Verification()
    digest = hashlib.sha256(data).hexdigest()
    result.facts.append(f"sha256={digest}")
    manifest = embedded_manifest(data)
    packet = _registered_packet(result, digest, manifest)
    if packet is None:
        return result
    _check_manifest(result, manifest, packet)
    _check_pdfa(result, data)
    if not packet.draft and packet.bates_first is not None:
        _check_bates(result, data, packet)
    _check_signatures(result, data, packet)
    return result


def _registered_packet(
    result: Verification, digest: str, manifest: dict[str, Any] | None
) -> Packet | None:
    """The packet stored with this file's SHA-256; else the one its manifest claims to be
    (the file was then altered: a failure), or None when neither is in the registry."""
    from sqlalchemy import select

    from compliance.extensions import db
    from compliance.packets.models import Packet

    packet = db.session.scalar(select(Packet).where(Packet.sha256 == digest))
    if packet is not None:
        result.packet_id = packet.id
        result.facts.append(
            f"packet {packet.id} ({packet.case.ref}, {packet.packet_type}"
            f"{', DRAFT' if packet.draft else ''}) built {packet.built_at:%Y-%m-%d %H:%M}Z"
        )
        return packet
    claimed = (manifest or {}).get("packet_id")
    recorded = db.session.get(Packet, claimed) if isinstance(claimed, int) else None
    if recorded is None:
        result.fail(f"no packet in the registry has SHA-256 {digest}")
        return None
    result.packet_id = recorded.id
    result.fail(
        f"SHA-256 does not match the registry: this file is {digest}, packet "
        f"{recorded.id} ({recorded.case.ref}) was stored as {recorded.sha256} — "
        "the file has been altered or is not the copy that was stored"
    )
    return recorded


def _check_manifest(result: Verification, manifest: dict[str, Any] | None, packet: Packet) -> None:
    """The embedded manifest is there and names this packet."""
    if manifest is None:
        result.fail("the embedded manifest is missing or unreadable")
    elif manifest.get("packet_id") != packet.id:
        result.fail(
            f"the embedded manifest names packet {manifest.get('packet_id')}, not {packet.id}"
        )


def _check_pdfa(result: Verification, data: bytes) -> None:
    """The file still identifies itself as PDF/A-3 (signing must not have broken it)."""
    part, conformance = pdfa_identification(data)
    if part != "3":
        result.fail("PDF/A-3 identification is missing from the metadata")
    else:
        result.facts.append(f"PDF/A-{part}{(conformance or '').lower()}")


def _check_bates(result: Verification, data: bytes, packet: Packet) -> None:
    """Every page carries the Bates number the registry reserved for it, in order."""
    try:
        stamps = page_stamps(data, packet.bates_prefix)
    except Exception as error:  # noqa: BLE001
        result.fail(f"the pages cannot be read: {error}")
        stamps = []
    expected = [
        f"{packet.bates_prefix}-{n:07d}" for n in range(packet.bates_first, packet.bates_last + 1)
    ]
    if stamps and stamps != expected:
        wrong = [
            (i + 1, got, want)
            for i, (got, want) in enumerate(zip(stamps, expected, strict=False))
            if got != want
        ]
        detail = (
            f"; first difference on page {wrong[0][0]}: {wrong[0][1]} instead of {wrong[0][2]}"
            if wrong
            else ""
        )
        result.fail(
            f"Bates numbers do not match the registry: {len(stamps)} pages stamped, "
            f"registry range {packet.bates_range} ({len(expected)} pages){detail}"
        )
    elif stamps:
        result.facts.append(f"Bates {packet.bates_range} on all {len(stamps)} pages")


def _check_signatures(result: Verification, data: bytes, packet: Packet) -> None:
    """Each signature is intact, covers the whole file and is by our key; one is there when
    the registry says the packet was signed."""
    try:
        count, problems = _signature_status(data)
    except Exception as error:  # noqa: BLE001 - an unreadable signature is a finding, not a crash
        count, problems = 0, [f"the signature cannot be validated: {error}"]
    for problem in problems:
        result.fail(problem)
    if packet.signed and count == 0:
        result.fail("the registry records a signature but the file carries none")
    elif count and not problems:
        result.facts.append(f"{count} signature(s) intact, covering the whole file")
