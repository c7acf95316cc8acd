// Sign a Cairn statement into a DSSE envelope with Node's built-in crypto
// (no packages): contract §2.
//
//   node examples/sign.mjs statement.json key.pem > envelope.json
//
// key.pem is a PKCS#8 Ed25519 private key (`cairn keygen` writes one). The
// statement must be complete (schema, type, issuer, issued_at, ...): this
// signs the bytes it is given and nothing else. POST the envelope to
// /api/v1/attestations with `Authorization: Token <token>`.
import { createHash, createPrivateKey, createPublicKey, sign } from "node:crypto";
import { readFileSync } from "node:fs";

const PAYLOAD_TYPE = "application/vnd.cairn.attestation+json";

// DSSE v1 pre-authentication encoding; lengths are byte lengths.
function pae(payloadType, payload) {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, "ascii"), type,
    Buffer.from(` ${payload.length} `, "ascii"), payload,
  ]);
}

const [statementPath, keyPath] = process.argv.slice(2);
if (!statementPath || !keyPath) {
  console.error("usage: node sign.mjs STATEMENT.json KEY.pem");
  process.exit(2);
}
const payload = Buffer.from(JSON.stringify(JSON.parse(readFileSync(statementPath, "utf8"))), "utf8");
const privateKey = createPrivateKey(readFileSync(keyPath));
// keyid: hex SHA-256 of the raw 32-byte public key (the last 32 bytes of its SPKI DER).
const raw = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
const keyid = createHash("sha256").update(raw).digest("hex");
const sig = sign(null, pae(PAYLOAD_TYPE, payload), privateKey); // Ed25519 signs the message itself
process.stdout.write(JSON.stringify({
  payloadType: PAYLOAD_TYPE,
  payload: payload.toString("base64"),
  signatures: [{ keyid, sig: sig.toString("base64") }],
}) + "\n");
