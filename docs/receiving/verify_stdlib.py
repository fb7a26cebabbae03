# Verifies a hookd delivery with Python's standard library alone: Standard Webhooks v1 as the
# specification defines it, and Cosmo's X-Cosmo-Signature-256. body is the raw body, bytes.
import base64
import hashlib
import hmac
import time


def verify_delivery(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> None:
    headers = {k.lower(): v for k, v in headers.items()}
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        raise ValueError("webhook-timestamp is too far from now")
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256)
    want = base64.b64encode(mac.digest()).decode()
    entries = [e.split(",", 1) for e in headers["webhook-signature"].split()]
    if not any(v == "v1" and hmac.compare_digest(sig, want) for v, sig in entries):
        raise ValueError("no v1 signature verifies")
    cosmo = headers.get("x-cosmo-signature-256")
    if cosmo is not None:
        if not hmac.compare_digest(cosmo, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()):
            raise ValueError("X-Cosmo-Signature-256 does not verify")


if __name__ == "__main__":
    import json
    import sys

    d = json.load(open(sys.argv[1], encoding="utf-8"))
    body = d["body"].encode()
    verify_delivery(d["secret"], d["headers"], body)
    try:
        verify_delivery(d["secret"], d["headers"], body + b" ")
        raise SystemExit("a changed body verified")
    except ValueError:
        pass
    print("python (standard library): the delivery verifies (v1, X-Cosmo-Signature-256); a changed body does not")
