// A non-Python agency system talking to the hub through two gateways, with nothing but fetch.
//
//   MIB_URL=http://127.0.0.1:8081 MIB_TOKEN=$(cat .hub/gateway/MIB@350582.token) \
//   PSB_URL=http://127.0.0.1:8082 PSB_TOKEN=$(cat .hub/gateway/PSB@350582.token) \
//   node examples/clients/node/walkthrough.mjs examples/payloads/clue_transfer.json
//
// MIB's case system sends a clue to PSB; PSB's system long-polls its inbox, signs for the clue,
// accepts it, closes it with its result and acknowledges it; MIB's system watches the hand-off
// until it is closed.  Prints one JSON line with the message id and its final state.
import { readFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
};

function gateway(url, token) {
  return async (method, path, body, idempotencyKey) => {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    const response = await fetch(url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (response.status >= 400) {
      // RFC 9457 problem: reason code and the JSON pointer of each wrong field.
      const fields = (data.errors || []).map((e) => `${e.pointer} ${e.detail}`).join("; ");
      throw new Error(`${method} ${path}: ${response.status} ${data.reason}: ${data.detail} ${fields}`);
    }
    return data;
  };
}

const mib = gateway(env("MIB_URL"), env("MIB_TOKEN"));
const psb = gateway(env("PSB_URL"), env("PSB_TOKEN"));
const payload = JSON.parse(await readFile(process.argv[2], "utf8"));

const sent = await mib("POST", "/v1/messages", { family: "clue_transfer", to: "PSB@350582", payload }, randomUUID());

// A long poll answers at once while anything unacknowledged waits, ours or not: wait by the
// clock, and pause between polls that brought only other messages.
let clue;
for (const deadline = Date.now() + 120_000; !clue && Date.now() < deadline; ) {
  const messages = await psb("GET", "/v1/inbox?wait=10&limit=100");
  clue = messages.find((m) => m.id === sent.id);
  if (!clue && messages.length > 0) await new Promise((r) => setTimeout(r, 500));
}
if (!clue) throw new Error(`clue ${sent.id} did not reach PSB`);

await psb("POST", `/v1/messages/${clue.id}/receipt`, { received_by: "刑侦支队" });
await psb("POST", `/v1/messages/${clue.id}/accept`, { case_number: "泉公(刑)受字2024-17" }, randomUUID());
await psb("POST", `/v1/messages/${clue.id}/close`, { result: "VERIFIED_TRUE", recovered_fen: 1283450, sanctions: { FINED: 1 } }, randomUUID());
await psb("POST", `/v1/inbox/${clue.id}/ack`);

let state;
for (let round = 0; round < 60 && state !== "CLOSED"; round++) {
  state = (await mib("GET", `/v1/messages/${sent.id}`)).state;
  if (state !== "CLOSED") await new Promise((r) => setTimeout(r, 1000));
}
console.log(JSON.stringify({ id: sent.id, state }));
if (state !== "CLOSED") process.exit(1);
