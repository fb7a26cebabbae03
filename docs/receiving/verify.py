# Verifies a hookd delivery with the official Standard Webhooks library (PyPI: standardwebhooks),
# and Cosmo's X-Cosmo-Signature-256 with the standard library. body is the raw body, bytes.
import hashlib
import hmac

from standardwebhooks import Webhook


def verify_delivery(secret: str, headers: dict, body: bytes) -> None:
    # Raises WebhookVerificationError unless a v1 entry signs webhook-id, webhook-timestamp (within
    # five minutes of now) and the body. For a secret not starting with whsec_, pass
    # "whsec_" + base64.b64encode(secret.encode()).decode(): hookd signs with its bytes.
    Webhook(secret).verify(body, headers)
    cosmo = headers.get("x-cosmo-signature-256")
    if cosmo is not None:
        want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(cosmo, want):
            raise ValueError("X-Cosmo-Signature-256 does not verify")


if __name__ == "__main__":
    import json
    import sys

    d = json.load(open(sys.argv[1], encoding="utf-8"))
    verify_delivery(d["secret"], d["headers"], d["body"].encode())
    print("python: the delivery verifies (v1 with standardwebhooks, X-Cosmo-Signature-256)")
