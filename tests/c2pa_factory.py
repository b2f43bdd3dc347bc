"""C2PA-signed media made in code: a throw-away test CA and signer, generated per session.

The keys exist only in memory for the test run; nothing here is a real credential.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import cache

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "verifier tests"),
        ]
    )


@cache
def make_pki() -> tuple[bytes, bytes, bytes]:
    """(root CA PEM, signer chain PEM, signer PKCS#8 key PEM)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    later = now + dt.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Verifier Test Root CA"))
        .issuer_name(_name("Verifier Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Verifier Test Camera"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem)
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca_pem, leaf.public_bytes(pem) + ca_pem, key_pem


def signed_jpeg(actions: list[dict], color: tuple[int, int, int] = (10, 100, 200)) -> bytes:
    """A small JPEG with an embedded C2PA manifest holding ``actions``, signed by the test CA."""
    _, chain, key = make_pki()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, key, None))
    manifest = {
        "claim_generator_info": [{"name": "verifier-tests", "version": "1"}],
        "title": "made-in-tests.jpg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    src = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(src, "JPEG", quality=90)
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    with c2pa.Builder(manifest, context=ctx) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(src.getvalue()), out)
    signer.close()
    ctx.close()
    return out.getvalue()


def capture_actions() -> list[dict]:
    return [{"action": "c2pa.created", "digitalSourceType": SOURCE + "digitalCapture"}]


def ai_actions() -> list[dict]:
    return [
        {
            "action": "c2pa.created",
            "digitalSourceType": SOURCE + "trainedAlgorithmicMedia",
            "softwareAgent": {"name": "Test Diffusion"},
        }
    ]


def tamper(jpeg: bytes) -> bytes:
    """Change one byte of entropy-coded image data (just before the end marker)."""
    i = jpeg.rindex(b"\xff\xd9") - 8
    value = jpeg[i] ^ 0x01
    if value == 0xFF or jpeg[i - 1] == 0xFF:
        i -= 3
        value = jpeg[i] ^ 0x01
    return jpeg[:i] + bytes([value]) + jpeg[i + 1 :]
