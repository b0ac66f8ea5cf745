// SDK logic without a browser: node --test web/tests/js/ (node 20+).  A fake WebSocket and a
// fake clock stand in for the network and time; the SDK code under test is the shipped module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, Outbox, Transcript, Session, CLOSE } from "../../../static/campus/sdk.js";

class Clock {
  constructor() { this.t = 0; this.q = []; this.seq = 0; }
  now = () => this.t;
  setTimeout = (fn, ms) => { const id = ++this.seq; this.q.push({ id, at: this.t + Math.max(0, ms), fn }); return id; };
  clearTimeout = (id) => { this.q = this.q.filter((x) => x.id !== id); };
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      this.q.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.q[0];
      if (!next || next.at > end) break;
      this.q.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

class FakeWS {
  static all = [];
  constructor(url) { this.url = url; this.sent = []; this.readyState = 0; FakeWS.all.push(this); }
  send(s) { this.sent.push(JSON.parse(s)); }
  close(code = 1000) { this.readyState = 3; }
  // server side
  open() { this.readyState = 1; this.onopen && this.onopen({}); }
  push(msg) { this.onmessage && this.onmessage({ data: JSON.stringify(msg) }); }
  drop(code = 1006) { this.readyState = 3; this.onclose && this.onclose({ code, reason: "" }); }
  types() { return this.sent.map((m) => m.type); }
  last(type) { return [...this.sent].reverse().find((m) => m.type === type); }
}

const ME = { id: "11111111-0000-0000-0000-000000000000", name: "Ann" };
const PEER = { id: "22222222-0000-0000-0000-000000000000", name: "Bob" };
const room = (extra = {}) => ({ id: "room-1", mode: "text", status: "active", duration_seconds: 300, remaining_seconds: 250,
  started_at: "", ends_at: "", grace_deadline: null, peer: PEER, peer_connected: true, you_connected: true, ...extra });
const msg = (id, seq, extra = {}) => ({ id, seq, room_id: "room-1", sender: PEER.id, client_id: "p" + id, body: "m" + id, created_at: "", ...extra });
const authOk = (r = null) => ({ type: "auth.ok", user: ME, heartbeat_seconds: 20, offline_timeout_seconds: 60, presence: r ? "in_call" : "online", room: r });

function setup(opts = {}) {
  FakeWS.all = [];
  const clock = new Clock();
  const s = new Session({ url: "ws://x/ws/", token: "cc_tok", WebSocket: FakeWS, random: () => 0.5,
    setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: clock.now, ...opts });
  const events = [];
  s.on("*", (type, data) => events.push([type, data]));
  s.connect();
  return { s, clock, events, ws: () => FakeWS.all[FakeWS.all.length - 1] };
}

test("backoff: grows exponentially from 0.5 s, jittered between half and all, capped", () => {
  assert.equal(backoffDelay(0, { random: () => 0 }), 250);
  assert.equal(backoffDelay(0, { random: () => 1 }), 500);
  assert.equal(backoffDelay(1, { random: () => 1 }), 1000);
  assert.equal(backoffDelay(2, { random: () => 1 }), 2000);
  assert.equal(backoffDelay(3, { random: () => 1 }), 4000);
  assert.equal(backoffDelay(4, { random: () => 1 }), 8000);
  assert.equal(backoffDelay(20, { random: () => 1 }), 8000, "capped at 8 s (REALTIME.md §7)");
  assert.equal(backoffDelay(20, { random: () => 0 }), 4000);
  const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(3)));
  assert.ok(seen.size > 10, "jitter spreads the delays");
  for (const d of seen) assert.ok(d >= 2000 && d <= 4000);
});

test("outbox keeps order and client ids until acked", () => {
  const o = new Outbox();
  const a = o.add("one", "r");
  const b = o.add("two", "r");
  assert.notEqual(a.client_id, b.client_id);
  assert.deepEqual(o.pending().map((e) => e.body), ["one", "two"]);
  assert.equal(o.ack(a.client_id), true);
  assert.equal(o.ack(a.client_id), false);
  assert.deepEqual(o.pending().map((e) => e.client_id), [b.client_id]);
});

test("transcript: merge drops known ids, orders by seq, finds gaps", () => {
  const t = new Transcript("room-1");
  assert.deepEqual(t.merge([msg(10, 1), msg(12, 3)]).map((m) => m.id), [10, 12]);
  assert.equal(t.hasGap, true);
  assert.equal(t.contiguousSeq, 1);
  assert.equal(t.replayAfterId, 10);
  assert.deepEqual(t.merge([msg(12, 3), msg(11, 2)]).map((m) => m.id), [11]);
  assert.deepEqual(t.messages.map((m) => m.seq), [1, 2, 3]);
  assert.equal(t.hasGap, false);
  assert.equal(t.lastId, 12);
  assert.deepEqual(t.merge([msg(99, 1, { room_id: "other" })]), [], "another room's message is ignored");
});

test("auth is the first frame; heartbeats every heartbeat_seconds", () => {
  const { s, clock, ws } = setup();
  ws().open();
  assert.deepEqual(ws().sent[0], { type: "auth", token: "cc_tok" });
  ws().push(authOk());
  assert.equal(s.state, "open");
  clock.advance(19_999);
  assert.equal(ws().types().filter((t) => t === "heartbeat").length, 0);
  clock.advance(1);
  ws().push({ type: "heartbeat.ack" });
  clock.advance(20_000);
  ws().push({ type: "heartbeat.ack" });
  assert.equal(ws().types().filter((t) => t === "heartbeat").length, 2);
});

test("a silent socket (no heartbeat.ack) is dropped and reconnected", () => {
  const { s, clock, ws } = setup();
  ws().open();
  ws().push(authOk());
  clock.advance(20_000 + 15_000);
  assert.equal(s.state, "reconnecting");
  clock.advance(1000);
  assert.equal(FakeWS.all.length, 2);
});

test("1006 and 4408 reconnect with growing jittered backoff; auth.ok resets it", () => {
  const { s, clock, ws, events } = setup();
  ws().open();
  ws().push(authOk());
  ws().drop(1006);
  const st = events.filter(([t]) => t === "state").map(([, d]) => d).filter((d) => d.state === "reconnecting");
  assert.equal(st.at(-1).delayMs, 375); // attempt 0: 500 * (0.5 + 0.5 * 0.5)
  clock.advance(374);
  assert.equal(FakeWS.all.length, 1);
  clock.advance(1);
  assert.equal(FakeWS.all.length, 2);
  ws().drop(1006); // failed before opening
  assert.equal(events.filter(([t, d]) => t === "state" && d.state === "reconnecting").at(-1)[1].delayMs, 750);
  clock.advance(750);
  ws().open();
  ws().push(authOk());
  assert.equal(s.attempt, 0);
  ws().drop(CLOSE.IDLE);
  assert.equal(events.filter(([t, d]) => t === "state" && d.state === "reconnecting").at(-1)[1].delayMs, 375);
});

test("4429 (busy) waits retry_after × random(1, 2), and the busy error is not left for the UI", () => {
  const { clock, ws, events, s } = setup({ random: () => 0.25 });
  ws().open();
  ws().push({ type: "error", code: "busy", message: "Busy.", retry_after: 4 });
  assert.ok(events.find(([t]) => t === "error")[1].handled);
  ws().drop(CLOSE.BUSY);
  assert.equal(events.filter(([t, d]) => t === "state" && d.state === "reconnecting").at(-1)[1].delayMs, 5000);
  clock.advance(4999);
  assert.equal(FakeWS.all.length, 1);
  clock.advance(1);
  assert.equal(FakeWS.all.length, 2);
  ws().drop(1006); // the next failure is ordinary backoff again
  assert.ok(events.filter(([t, d]) => t === "state" && d.state === "reconnecting").at(-1)[1].delayMs <= 1000);
  assert.equal(s.state, "reconnecting");
});

test("reconnectNow skips the rest of the delay; it does nothing while open or after close()", () => {
  const { clock, ws, s } = setup({ random: () => 1 });
  ws().open();
  ws().push(authOk());
  s.reconnectNow();
  assert.equal(FakeWS.all.length, 1, "open: nothing to do");
  for (let i = 0; i < 5; i++) { ws().drop(1006); clock.advance(10_000); }
  ws().drop(1006); // attempt 6: an 8 s wait ahead
  assert.equal(FakeWS.all.length, 6);
  s.reconnectNow();
  assert.equal(FakeWS.all.length, 7);
  ws().drop(1006);
  s.close();
  s.reconnectNow();
  clock.advance(60_000);
  assert.equal(FakeWS.all.length, 7);
});

test("in a room the backoff stays within 2 s (the grace window is short)", () => {
  const { clock, ws, events } = setup({ random: () => 1 });
  ws().open();
  ws().push(authOk(room()));
  for (let i = 0; i < 6; i++) {
    ws().drop(1006);
    const d = events.filter(([t, x]) => t === "state" && x.state === "reconnecting").at(-1)[1].delayMs;
    assert.ok(d <= 2000, `attempt ${i}: ${d}`);
    clock.advance(d);
  }
});

test("4503 reconnects at once (within 0–0.5 s); 4401 and 4403 never reconnect", () => {
  let { clock, ws, events, s } = setup();
  ws().open();
  ws().push(authOk());
  ws().drop(CLOSE.SERVER_RESTART);
  clock.advance(249);
  assert.equal(FakeWS.all.length, 1);
  clock.advance(1); // random() = 0.5 → 250 ms
  assert.equal(FakeWS.all.length, 2);

  ({ clock, ws, events, s } = setup());
  ws().open();
  ws().drop(CLOSE.AUTH_FAILED);
  clock.advance(60_000);
  assert.equal(FakeWS.all.length, 1);
  assert.equal(s.state, "signed_out");
  assert.ok(events.some(([t]) => t === "signed_out"));

  ({ clock, ws, events, s } = setup());
  ws().open();
  ws().push(authOk());
  ws().drop(CLOSE.BANNED);
  clock.advance(60_000);
  assert.equal(FakeWS.all.length, 1);
  assert.equal(s.state, "banned");
});

test("presence is re-sent after a reconnect", () => {
  const { s, clock, ws } = setup();
  ws().open();
  ws().push(authOk());
  s.setAvailable(true).catch(() => {}); // the socket drops before presence.state
  assert.deepEqual(ws().last("presence.set").available, true);
  ws().drop(1006);
  clock.advance(1000);
  ws().open();
  assert.equal(ws().last("presence.set"), undefined, "nothing but auth before auth.ok");
  ws().push(authOk());
  assert.equal(ws().last("presence.set").available, true);
});

test("outbox: resent with the same client_id after a reconnect until acked; never shown twice", () => {
  const { s, clock, ws } = setup();
  ws().open();
  ws().push(authOk(room()));
  const entry = s.sendMessage("hello");
  const first = ws().last("room.message");
  assert.equal(first.client_id, entry.client_id);
  ws().drop(1006); // no ack: the server may or may not have stored it
  clock.advance(1000);
  ws().open();
  ws().push(authOk(room()));
  const again = ws().last("room.message");
  assert.equal(again.client_id, entry.client_id);
  assert.equal(again.body, "hello");
  const stored = msg(5, 1, { sender: ME.id, client_id: entry.client_id, body: "hello" });
  // the replay may bring it first, then the ack of the resend (same stored message)
  ws().push({ type: "room.messages", room_id: "room-1", messages: [stored], has_more: false, ref: ws().last("room.replay").ref });
  ws().push({ type: "room.message.ack", client_id: entry.client_id, message: stored });
  assert.equal(s.outbox.size, 0);
  assert.deepEqual(s.transcript.messages.map((m) => m.id), [5]);
});

test("outbox: unacked messages are resent on the same socket after a while", () => {
  const { s, clock, ws } = setup({ resendAfterMs: 5000 });
  ws().open();
  ws().push(authOk(room()));
  s.sendMessage("x");
  clock.advance(5000);
  ws().push({ type: "heartbeat.ack" });
  const sends = ws().sent.filter((m) => m.type === "room.message");
  assert.equal(sends.length, 2);
  assert.equal(sends[0].client_id, sends[1].client_id);
});

test("outbox: a refused message is dropped and reported; rate limits wait and retry", () => {
  const { s, clock, ws, events } = setup();
  ws().open();
  ws().push(authOk(room()));
  const bad = s.sendMessage("   ");
  ws().push({ type: "error", code: "invalid", message: "empty", ref: "m:" + bad.client_id });
  assert.equal(s.outbox.size, 0);
  assert.ok(events.some(([t, d]) => t === "outbox.failed" && d.entry.client_id === bad.client_id));
  const slow = s.sendMessage("later");
  ws().push({ type: "error", code: "rate_limited", message: "slow down", retry_after: 2, ref: "m:" + slow.client_id });
  assert.equal(s.outbox.size, 1);
  clock.advance(2000);
  ws().push({ type: "heartbeat.ack" });
  assert.equal(ws().sent.filter((m) => m.type === "room.message" && m.client_id === slow.client_id).length, 2);
});

test("Redis down: auth answered unavailable is sent again after retry_after on the same socket", () => {
  const { s, clock, ws } = setup();
  ws().open();
  assert.deepEqual(ws().types(), ["auth"]);
  ws().push({ type: "error", code: "unavailable", message: "later", retry_after: 5 });
  clock.advance(4999);
  assert.deepEqual(ws().types(), ["auth"]);
  clock.advance(1);
  assert.deepEqual(ws().types(), ["auth", "auth"]);
  assert.equal(FakeWS.all.length, 1); // the same socket, no reconnect
  ws().push(authOk());
  assert.equal(s.state, "open");
});

test("Redis down: a message answered unavailable stays in the outbox and is resent", () => {
  const { s, clock, ws, events } = setup();
  ws().open();
  ws().push(authOk(room()));
  const m = s.sendMessage("hello");
  ws().push({ type: "error", code: "unavailable", message: "later", retry_after: 5, ref: "m:" + m.client_id });
  assert.equal(s.outbox.size, 1);
  assert.ok(!events.some(([t]) => t === "outbox.failed"));
  clock.advance(5000);
  assert.equal(ws().sent.filter((x) => x.type === "room.message" && x.client_id === m.client_id).length, 2);
});

test("replay after auth.ok with a room and after room.resumed, paging on has_more", () => {
  const { s, ws } = setup();
  ws().open();
  ws().push(authOk(room()));
  let rp = ws().last("room.replay");
  assert.equal(rp.after_id, 0);
  ws().push({ type: "room.messages", room_id: "room-1", messages: [msg(1, 1), msg(2, 2)], has_more: true, ref: rp.ref });
  rp = ws().last("room.replay");
  assert.equal(rp.after_id, 2);
  ws().push({ type: "room.messages", room_id: "room-1", messages: [msg(3, 3)], has_more: false, ref: rp.ref });
  assert.deepEqual(s.transcript.messages.map((m) => m.id), [1, 2, 3]);
  const before = ws().sent.filter((m) => m.type === "room.replay").length;
  ws().push({ type: "room.resumed", room: room() });
  rp = ws().last("room.replay");
  assert.equal(ws().sent.filter((m) => m.type === "room.replay").length, before + 1);
  assert.equal(rp.after_id, 3);
  // a replay answer overlapping what we have adds nothing twice
  ws().push({ type: "room.messages", room_id: "room-1", messages: [msg(3, 3), msg(4, 4)], has_more: false, ref: rp.ref });
  assert.deepEqual(s.transcript.messages.map((m) => m.id), [1, 2, 3, 4]);
});

test("a seq gap waits for the missing message, then replays after the last id before it", () => {
  const { s, clock, ws, events } = setup({ gapWaitMs: 1000 });
  ws().open();
  ws().push(authOk(room()));
  const rp = ws().last("room.replay");
  ws().push({ type: "room.messages", room_id: "room-1", messages: [], has_more: false, ref: rp.ref });
  ws().push({ type: "room.message", message: msg(1, 1) });
  ws().push({ type: "room.message", message: msg(3, 3) }); // 2 is missing
  clock.advance(999);
  const n = ws().sent.filter((m) => m.type === "room.replay").length;
  ws().push({ type: "room.message", message: msg(2, 2) }); // it was on its way
  clock.advance(10);
  assert.equal(ws().sent.filter((m) => m.type === "room.replay").length, n, "no replay when the gap closed");
  ws().push({ type: "room.message", message: msg(5, 5) }); // 4 is lost for good
  clock.advance(1000);
  assert.ok(events.some(([t, d]) => t === "gap" && d.after_id === 3));
  const last = ws().last("room.replay");
  assert.equal(last.after_id, 3);
  ws().push({ type: "room.messages", room_id: "room-1", messages: [msg(4, 4), msg(5, 5)], has_more: false, ref: last.ref });
  assert.deepEqual(s.transcript.messages.map((m) => m.seq), [1, 2, 3, 4, 5]);
  assert.equal(s.transcript.hasGap, false);
});

test("room ended while away: auth.ok without a room ends it locally and drops the outbox", () => {
  const { s, clock, ws, events } = setup();
  ws().open();
  ws().push(authOk(room()));
  s.sendMessage("bye");
  ws().drop(1006);
  clock.advance(1000);
  ws().open();
  ws().push(authOk(null));
  assert.equal(s.room, null);
  const ended = events.find(([t]) => t === "room.ended")[1];
  assert.equal(ended.while_away, true);
  assert.equal(ended.dropped.length, 1);
  assert.equal(s.outbox.size, 0);
});

test("request() resolves with the reply carrying its ref and rejects on error", async () => {
  const { s, ws } = setup();
  ws().open();
  ws().push(authOk());
  const p = s.queue({ limit: 5 });
  const q = ws().last("queue.get");
  assert.equal(q.limit, 5);
  ws().push({ type: "queue.list", total: 0, offset: 0, limit: 5, results: [], ref: q.ref });
  assert.equal((await p).type, "queue.list");
  const p2 = s.skip("nobody");
  ws().push({ type: "error", code: "user_not_found", message: "no", ref: ws().last("queue.skip").ref });
  await assert.rejects(p2, (e) => e.code === "user_not_found");
});

test("remaining time counts down from the server's remaining_seconds", () => {
  const { s, clock, ws } = setup();
  ws().open();
  ws().push(authOk(room({ remaining_seconds: 100 })));
  clock.advance(30_000);
  assert.equal(s.remainingSeconds(), 70);
});

test("the `banned` frame before a 4403 close gives the ban event its reason", () => {
  const { s, ws, events } = setup();
  ws().open();
  ws().push(authOk());
  ws().push({ type: "banned", until: null, reason: "Harassment." });
  ws().drop(CLOSE.BANNED);
  assert.equal(s.state, "banned");
  const closed = events.filter(([t, d]) => t === "banned" && d.code === CLOSE.BANNED);
  assert.equal(closed.length, 1);
  assert.equal(closed[0][1].message, "Harassment.");
});
