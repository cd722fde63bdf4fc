// The hookbus console: polls the admin API and follows the live tail. No build step.
"use strict";

const $ = (sel) => document.querySelector(sel);

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function getJSON(path, init) {
  const r = await fetch(path, init);
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function refreshSources() {
  const s = await getJSON("/api/sources");
  fill($("#sources tbody"), Object.keys(s).sort().map((name) => {
    const c = s[name];
    const rejected = Object.entries(c).filter(([k]) => !["stored", "duplicate", "handshake", "unavailable"].includes(k))
      .reduce((n, [, v]) => n + v, 0);
    const tr = document.createElement("tr");
    tr.append(cell(name || "(none)"), cell(c.stored || 0, "ok"), cell(c.duplicate || 0), cell(rejected, rejected ? "bad" : ""),
      cell(c.unavailable || 0, c.unavailable ? "bad" : ""));
    return tr;
  }));
}

async function refreshAgents() {
  const rows = await getJSON("/api/agents");
  fill($("#agents tbody"), (rows || []).map((a) => {
    const tr = document.createElement("tr");
    tr.append(cell(a.agent), cell(a.stream), cell(a.pending), cell(a.ack_pending), cell(a.redelivered, a.redelivered ? "bad" : ""),
      cell(a.dead_letters, a.dead_letters ? "bad" : ""));
    return tr;
  }));
}

async function refreshDLQ() {
  const rows = await getJSON("/api/dlq");
  fill($("#dlq tbody"), (rows || []).map((d) => {
    const tr = document.createElement("tr");
    const btn = document.createElement("button");
    btn.textContent = "redrive";
    btn.dataset.seq = d.seq;
    btn.onclick = async () => {
      btn.disabled = true;
      await redrive(d.seq);
      refreshDLQ();
    };
    const td = document.createElement("td");
    td.append(btn);
    tr.append(cell(d.seq), cell(d.subject.replace(/^dlq\./, "")), cell(d.type), cell(d.reason, "bad"), td);
    return tr;
  }));
}

// redrive hands one dead letter back to its agent and says what became of it: where it
// went, or why not (a dead letter younger than the DLQ's duplicate window is refused until
// retry_at).
async function redrive(seq) {
  const note = $("#dlqnote");
  note.className = "muted";
  try {
    const r = await fetch("/api/dlq/redrive?seq=" + seq, { method: "POST" });
    const a = await r.json().catch(() => ({ error: String(r.status) }));
    if (r.ok) {
      note.textContent = "dead letter " + seq + " redriven to " + a.to + (a.also_to ? " (also read by " + a.also_to.join(", ") + ")" : "");
      return;
    }
    note.className = "bad";
    note.textContent = "not redriven: " + a.error +
      (a.retry_at ? " Try again after " + new Date(a.retry_at).toLocaleTimeString() + "." : "");
  } catch (e) {
    note.className = "bad";
    note.textContent = "dead letter " + seq + " not redriven: " + e;
  }
}

async function showChain(id) {
  $("#chainid").value = id;
  const rows = await getJSON("/api/chain?id=" + encodeURIComponent(id));
  fill($("#chain tbody"), (rows || []).map((e) => {
    const tr = document.createElement("tr");
    tr.append(cell(new Date(e.time).toLocaleTimeString()), cell(e.subject), cell(e.id), cell(e.causation || "(webhook)", "muted"));
    return tr;
  }));
}

$("#chainform").onsubmit = (ev) => {
  ev.preventDefault();
  showChain($("#chainid").value.trim());
};

function follow() {
  const es = new EventSource("/api/tail");
  es.onopen = () => { $("#status").textContent = "live"; };
  es.onerror = () => { $("#status").textContent = "reconnecting…"; };
  es.onmessage = (msg) => {
    const e = JSON.parse(msg.data);
    const tr = document.createElement("tr");
    const id = cell(e.id);
    id.style.cursor = "pointer";
    id.title = "show the chain";
    id.onclick = () => showChain(e.correlation || e.id);
    tr.append(cell(new Date(e.time || Date.now()).toLocaleTimeString()), cell(e.subject), id, cell(e.size), cell(e.preview, "preview"));
    const body = $("#tailbody");
    body.prepend(tr);
    while (body.children.length > 200) body.lastChild.remove();
  };
}

async function tick() {
  try {
    await Promise.all([refreshSources(), refreshAgents(), refreshDLQ()]);
  } catch (e) {
    $("#status").textContent = String(e);
  }
}

follow();
tick();
setInterval(tick, 2000);
