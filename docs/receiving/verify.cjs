// Verifies a hookd delivery with the official Standard Webhooks library (npm: standardwebhooks),
// and Cosmo's X-Cosmo-Signature-256 with node:crypto. body is the raw body, a Buffer; headers have
// lowercase names, as Node's http gives them.
const crypto = require("node:crypto");
const { Webhook } = require("standardwebhooks");

function verifyDelivery(secret, headers, body) {
  // Throws WebhookVerificationError unless a v1 entry signs webhook-id, webhook-timestamp (within
  // five minutes of now) and the body. A secret not starting with whsec_ is used as it is:
  // new Webhook(secret, { format: "raw" }).
  new Webhook(secret).verify(body, headers);
  const cosmo = headers["x-cosmo-signature-256"];
  if (cosmo !== undefined) {
    const want = crypto.createHmac("sha256", secret).update(body).digest("hex");
    if (cosmo.length !== want.length || !crypto.timingSafeEqual(Buffer.from(cosmo), Buffer.from(want))) {
      throw new Error("X-Cosmo-Signature-256 does not verify");
    }
  }
}

// With Express, keep the body raw until it is verified:
//   app.post("/hook", express.raw({ type: "application/json" }), (req, res) => {
//     try { verifyDelivery(SECRET, req.headers, req.body); } catch { return res.sendStatus(401); }
//     const event = JSON.parse(req.body); ...; res.sendStatus(200);
//   });

// `make receiving-examples` runs this file on a delivery signed by hookd's signer.
if (require.main === module) {
  const d = JSON.parse(require("node:fs").readFileSync(process.argv[2], "utf8"));
  const body = Buffer.from(d.body, "utf8");
  verifyDelivery(d.secret, d.headers, body);
  let refused = false;
  try {
    verifyDelivery(d.secret, d.headers, Buffer.concat([body, Buffer.from(" ")]));
  } catch {
    refused = true;
  }
  if (!refused) throw new Error("a changed body verified");
  console.log("node: the delivery verifies (v1 with standardwebhooks, X-Cosmo-Signature-256); a changed body does not");
}
