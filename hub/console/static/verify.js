// Checks a hand-off's audit records in this browser, not on the console's word: each record's
// inclusion proof (RFC 9162) against the tree head, and the tree head's C2SP signed note against
// the key pinned in the page's configuration.  An intl log: SHA-256 and Ed25519 by WebCrypto.  A
// gm log (its signed origin ends in "-sm3", its key is "sm2:…"): SM3 and SM2 (signer id
// 1234567812345678) by the vendored sm-crypto, which WebCrypto lacks.
"use strict";

const enc = new TextEncoder();

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

function unb64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// Not named sm3: a top-level function of a classic script is a global, and would replace
// sm-crypto's window.sm3.
async function sm3Digest(bytes) {
  return unhex(window.sm3(Array.from(bytes)));
}

// The tree's hash: the one its signed checkpoint's origin names.
function treeHash(origin) {
  return origin.endsWith("-sm3") ? sm3Digest : sha256;
}

// RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null when it cannot be one.
async function rootFromInclusion(index, size, leaf, proof, h) {
  const nodeHash = (l, r) => h(concat(new Uint8Array([1]), l, r));
  if (index >= size) return null;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if ((fn & 1) === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) { fn >>= 1; sn >>= 1; }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 ? r : null;
}

// A signature of the note's text by the pinned key, in the key's own algorithm.
async function verifySignature(name, publicKey, signature, text) {
  if (name.startsWith("sm2:")) {
    return window.sm2.doVerifySignature(Array.from(text), hex(signature), hex(publicKey),
                                        { der: true, hash: true });
  }
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, text);
}

// c2sp.org/signed-note: the body's three lines, then "— name base64(keyhash||sig)"; the key hash
// is SHA-256(name || "\n" || type || key)[:4], type 0x01 for Ed25519, 0xff for SM2.
async function openCheckpoint(note, name, publicKey) {
  const [body, signatures] = note.split("\n\n");
  if (signatures === undefined) throw new Error("the checkpoint is not a signed note");
  const text = body + "\n";
  const [origin, size, root] = body.split("\n");
  const type = new Uint8Array([name.startsWith("sm2:") ? 0xff : 0x01]);
  const keyHash = (await sha256(concat(enc.encode(name + "\n"), type, publicKey))).slice(0, 4);
  for (const line of signatures.split("\n")) {
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[0] !== "\u2014" || parts[1] !== name) continue;
    const blob = unb64(parts[2]);
    if (hex(blob.slice(0, 4)) !== hex(keyHash)) continue;
    if (await verifySignature(name, publicKey, blob.slice(4), enc.encode(text))) {
      return { origin, size: Number(size), root: unb64(root) };
    }
  }
  throw new Error("the checkpoint's signature does not verify against the pinned key");
}

async function verifyProofs(proofs, config) {
  const head = await openCheckpoint(proofs.checkpoint, config.checkpoint_key_name,
                                    unb64(config.checkpoint_key));
  if (head.size !== proofs.tree_size || hex(head.root) !== proofs.root) {
    throw new Error("the proofs are not of the signed tree head");
  }
  const h = treeHash(head.origin);
  for (const r of proofs.records) {
    const leaf = await h(concat(new Uint8Array([0]), enc.encode(r.hash)));
    const root = await rootFromInclusion(r.leaf_index, proofs.tree_size, leaf, r.proof.map(unhex), h);
    if (root === null || hex(root) !== proofs.root) {
      throw new Error(`record #${r.seq} (${r.kind}) is not in the signed tree`);
    }
  }
  return { records: proofs.records.length, size: head.size, hash: h === sm3Digest ? "SM3, SM2" : "SHA-256, Ed25519" };
}

async function onVerify() {
  const out = document.getElementById("verify-result");
  out.className = "";
  out.textContent = "核验中 Checking …";
  try {
    const config = JSON.parse(document.getElementById("console-config").textContent);
    const response = await fetch(config.proofs_url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`the console answered ${response.status}`);
    const done = await verifyProofs(await response.json(), config);
    out.className = "ok";
    out.textContent = `已在本浏览器中核验 verified in this browser: ${done.records} records ` +
      `in the signed tree of ${done.size} (${done.hash})`;
  } catch (err) {
    out.className = "bad";
    out.textContent = `核验失败 verification FAILED: ${err.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("verify");
  if (button) button.addEventListener("click", onVerify);
});
