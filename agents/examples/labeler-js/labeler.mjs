// labeler: a hookbus agent in JavaScript, built only on the documented contract (subjects,
// envelope headers, ack rules) with the nats package — no hookbus SDK.
//
// It consumes GitHub issue webhooks (webhooks.github.issues.>) with its own durable consumer
// "labeler" on the WEBHOOKS stream, suggests labels from the issue title, and emits
// agents.labeler.events.issue.labeled. Its event id is derived from the cause exactly as
// subjects.DerivedID defines it, so a redelivered webhook emits nothing new.
//
//   NATS_URL=nats://127.0.0.1:4222 node labeler.mjs
import { connect, headers, AckPolicy, DeliverPolicy } from "nats";
import { createHash } from "node:crypto";

const AGENT = "labeler";
const STREAM = "WEBHOOKS";
const FILTER = "webhooks.github.issues.>";
const TYPE = "issue.labeled";

// derivedId(cause, agent, type, n): hex SHA-256 of each part followed by a zero byte, cut to
// 32 characters.
export function derivedId(cause, agent, type, n) {
  const h = createHash("sha256");
  for (const part of [cause, agent, type, String(n)]) {
    h.update(part, "utf8");
    h.update(Buffer.from([0]));
  }
  return h.digest("hex").slice(0, 32);
}

function suggest(title) {
  const t = (title || "").toLowerCase();
  const labels = [];
  if (/crash|panic|error|broken|fail/.test(t)) labels.push("bug");
  if (/docs?|readme|typo/.test(t)) labels.push("documentation");
  if (/add|support|feature|allow/.test(t)) labels.push("enhancement");
  return labels.length ? labels : ["needs-triage"];
}

async function main() {
  const nc = await connect({ servers: process.env.NATS_URL || "nats://127.0.0.1:4222", name: "hookbus-agent-" + AGENT });
  const jsm = await nc.jetstreamManager();
  const config = {
    durable_name: AGENT,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subjects: [FILTER],
    ack_wait: 30e9,
    max_ack_pending: 1,
  };
  try {
    await jsm.consumers.info(STREAM, AGENT);
    await jsm.consumers.update(STREAM, AGENT, { filter_subjects: [FILTER], ack_wait: 30e9, max_ack_pending: 1 });
  } catch {
    await jsm.consumers.add(STREAM, config);
  }
  const js = nc.jetstream();
  const consumer = await js.consumers.get(STREAM, AGENT);
  const messages = await consumer.consume({ max_messages: 1 });
  console.log(JSON.stringify({ level: "info", agent: AGENT, message: "agent consuming", filter: FILTER }));

  const stop = async () => {
    messages.stop();
    await nc.drain();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  for await (const m of messages) {
    const id = m.headers?.get("ce-id") || `${m.info.stream}:${m.seq}`;
    const correlation = m.headers?.get("Hookbus-Correlation-Id") || id;
    const hops = parseInt(m.headers?.get("Hookbus-Hops") || "0", 10) || 0;
    try {
      const body = JSON.parse(new TextDecoder().decode(m.data));
      const out = { number: body.issue?.number, labels: suggest(body.issue?.title) };
      const eid = derivedId(id, AGENT, TYPE, 0);
      const h = headers();
      h.set("ce-specversion", "1.0");
      h.set("ce-id", eid);
      h.set("ce-source", "/agents/" + AGENT);
      h.set("ce-type", TYPE);
      h.set("ce-time", new Date().toISOString());
      h.set("content-type", "application/json");
      h.set("Hookbus-Causation-Id", id);
      h.set("Hookbus-Correlation-Id", correlation);
      h.set("Hookbus-Hops", String(hops + 1));
      const tp = m.headers?.get("traceparent");
      if (tp) h.set("traceparent", tp);
      const ack = await js.publish(`agents.${AGENT}.events.${TYPE}`, JSON.stringify(out), { msgID: eid, headers: h });
      m.ack(); // only after the emitted event is stored
      console.log(JSON.stringify({ level: "info", agent: AGENT, id, emitted: eid, duplicate: ack.duplicate, labels: out.labels, message: "issue labeled" }));
    } catch (err) {
      // Not acknowledged: redelivered after a delay, as the ack rules say.
      console.log(JSON.stringify({ level: "warn", agent: AGENT, id, error: String(err), message: "handler failed" }));
      m.nak(2000);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
