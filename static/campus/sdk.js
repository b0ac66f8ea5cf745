// Campus Chat JavaScript SDK: REST calls and the realtime session (docs/REALTIME.md, docs/CLIENT.md).
// An ES module with JSDoc types; no build step, no framework, no DOM.  It knows nothing of any UI:
// a front-end subscribes to events (`session.on(type, fn)`) and calls methods.

/**
 * Types generated from the server's own schemas (`make types`, static/campus/types/; docs/CLIENT.md):
 * `api.d.ts` from the OpenAPI schema, `ws.d.ts` from the AsyncAPI document's message payloads.
 * @typedef {import("./types/api").components["schemas"]} Schemas REST bodies, e.g. Schemas["Me"]
 * @typedef {import("./types/ws").Card} Card
 * @typedef {import("./types/ws").Invite} Invite
 * @typedef {import("./types/ws").RoomView} RoomView a room as the server describes it
 * @typedef {RoomView & {_receivedAt: number}} Room the current room, with when it was described (local clock)
 * @typedef {import("./types/ws").Message} Message
 * @typedef {import("./types/ws").ServerMessage} ServerMessage any server → client frame
 * @typedef {import("./types/ws").ClientMessage} ClientMessage any client → server frame
 * @typedef {import("./types/ws").ServerMessageMap} ServerMessageMap server frames by `type`
 * @typedef {{client_id: string, body: string, room_id: string|null, sentAt: number}} OutboxEntry
 * @typedef {"idle"|"connecting"|"open"|"reconnecting"|"signed_out"|"banned"|"closed"} ConnectionState
 */

/** A REST error in the API's one shape `{"error": {"code", "message", "fields"}}`. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 = network failure)
   * @param {string} code stable machine code, e.g. "invalid", "invite_required", "banned"
   * @param {string} message human readable
   * @param {Record<string, unknown>} [fields] field errors: usually a list of messages per field (the
   *   schemas say only "an object": `posts` of PUT /api/me/instagram-posts has messages by index)
   * @param {Record<string, any>} [extra] other keys of the error object (retry_after, until, …)
   */
  constructor(status, code, message, fields = {}, extra = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields || {};
    this.extra = extra || {};
  }
}

/** Close codes of `/ws/` (docs/REALTIME.md §5). */
export const CLOSE = Object.freeze({ AUTH_FAILED: 4401, BANNED: 4403, IDLE: 4408, BUSY: 4429, SERVER_RESTART: 4503 });

/**
 * Delay before reconnect attempt `attempt` (0, 1, 2 …): exponential from `baseMs`, capped at
 * `maxMs` (8 s, REALTIME.md §7), with "equal jitter" (between half and all of it) so a server
 * restart's clients spread out.
 * @param {number} attempt
 * @param {{baseMs?: number, maxMs?: number, random?: () => number}} [opts]
 */
export function backoffDelay(attempt, { baseMs = 500, maxMs = 8000, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A fresh client id for a chat message (kept until acked). */
export function newClientId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
}

// ------------------------------------------------------------------------------------------------
// REST
// ------------------------------------------------------------------------------------------------

/** REST client for `/api/…` (OpenAPI at /api/schema/).  Every failure is thrown as an ApiError. */
export class Api {
  /**
   * @param {{baseUrl?: string, token?: string|null, fetch?: typeof fetch}} [opts]
   *   baseUrl: "" for the same origin, or e.g. "https://chat.example.edu" from another origin (CORS).
   */
  constructor({ baseUrl = "", token = null, fetch: fetchImpl } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.token = token;
    this._fetch = fetchImpl || globalThis.fetch.bind(globalThis);
  }

  /**
   * @param {string} method
   * @param {string} path e.g. "/api/me"
   * @param {{json?: any, form?: FormData, query?: Record<string, any>, raw?: boolean, auth?: boolean}} [opts]
   */
  async request(method, path, { json, form, query, raw = false, auth = true } = {}) {
    let url = this.baseUrl + path;
    if (query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
      const s = qs.toString();
      if (s) url += (url.includes("?") ? "&" : "?") + s;
    }
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    /** @type {any} */
    let body;
    if (form) body = form;
    else if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    let resp;
    try {
      resp = await this._fetch(url, { method, headers, body, credentials: "omit" });
    } catch (err) {
      throw new ApiError(0, "network", "The server could not be reached. Check your connection.");
    }
    if (raw && resp.ok) return resp;
    if (resp.status === 204) return null;
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const e = (data && data.error) || {};
      const { code = "http_" + resp.status, message = resp.statusText || "Request failed.", fields = {}, ...extra } = e;
      throw new ApiError(resp.status, code, message, fields, extra);
    }
    return data;
  }

  // --- auth and account ----------------------------------------------------------------------------
  /** @param {Schemas["GuestSignupInputRequest"]} body @returns {Promise<Schemas["AuthResult"]>} */
  async guestSignup(body) {
    const r = await this.request("POST", "/api/auth/guest", { json: body, auth: false });
    this.token = r.token;
    return r;
  }
  /** @param {Schemas["LoginInputRequest"]} body @returns {Promise<Schemas["AuthResult"]>} */
  async login(body) {
    const r = await this.request("POST", "/api/auth/login", { json: body, auth: false });
    this.token = r.token;
    return r;
  }
  /** @returns {Promise<null>} */
  logout() { return this.request("POST", "/api/auth/logout"); }
  /** @returns {Promise<Schemas["CountOutput"]>} */
  logoutOthers() { return this.request("POST", "/api/auth/logout-others"); }
  /** @returns {Promise<Schemas["SessionOutput"][]>} */
  sessions() { return this.request("GET", "/api/auth/sessions"); }
  /** @param {number} id @returns {Promise<null>} */
  revokeSession(id) { return this.request("DELETE", `/api/auth/sessions/${id}`); }
  /** @param {string} email @param {string} password @returns {Promise<Schemas["DetailOutput"]>} */
  makePermanent(email, password) { return this.request("POST", "/api/auth/make-permanent", { json: { email, password } }); }
  /** @param {string} code @returns {Promise<Schemas["Me"]>} */
  verifyEmail(code) { return this.request("POST", "/api/auth/verify-email", { json: { code } }); }
  /** @param {string} current_password @param {string} new_password @returns {Promise<null>} */
  changePassword(current_password, new_password) {
    return this.request("POST", "/api/auth/password", { json: { current_password, new_password } });
  }
  /** @returns {Promise<Schemas["Me"]>} */
  me() { return this.request("GET", "/api/me"); }
  /** @param {Schemas["PatchedProfileUpdateInputRequest"]} fields @returns {Promise<Schemas["Me"]>} */
  updateMe(fields) { return this.request("PATCH", "/api/me", { json: fields }); }
  /** @param {string} [password] required for permanent accounts @returns {Promise<null>} */
  deleteAccount(password = "") { return this.request("DELETE", "/api/me", { json: { password } }); }
  /** @returns {Promise<Record<string, any>>} everything stored about me */
  exportData() { return this.request("GET", "/api/me/export"); }
  /** @param {Blob} file @param {string} [filename] @returns {Promise<Schemas["Me"]>} */
  uploadPhoto(file, filename = "photo.jpg") { return this._upload("/api/me/photo", file, filename); }
  /** @param {Blob} file @param {string} [filename] @returns {Promise<Schemas["Me"]>} */
  uploadVideo(file, filename = "intro.webm") { return this._upload("/api/me/video", file, filename); }
  /** @param {string} path @param {Blob} file @param {string} filename */
  _upload(path, file, filename) {
    const form = new FormData();
    form.append("file", file, /** @type {any} */ (file).name || filename);
    return this.request("PUT", path, { form });
  }
  /** @returns {Promise<Schemas["MyBanOutput"]>} */
  myBan() { return this.request("GET", "/api/me/ban"); }
  /** My stored (coarsened) location, or null when none is live. @returns {Promise<Schemas["LocationOutput"]|null>} */
  myLocation() { return this.request("GET", "/api/me/location"); }
  /** Share my location (opt-in: others only ever see a distance bucket). @param {number} lat @param {number} lon @param {number} [accuracy_m] @returns {Promise<Schemas["LocationOutput"]>} */
  shareLocation(lat, lon, accuracy_m = 0) {
    return this.request("PUT", "/api/me/location", { json: { lat, lon, accuracy_m: Math.round(accuracy_m), consent: true } });
  }
  /** @returns {Promise<null>} */
  stopSharingLocation() { return this.request("DELETE", "/api/me/location"); }

  // --- social --------------------------------------------------------------------------------------
  /** @param {{offset?: number, limit?: number, include_cooldown?: boolean}} [q] @returns {Promise<Schemas["QueuePageOutput"]>} */
  queue(q = {}) { return this.request("GET", "/api/queue", { query: q }); }
  /** @returns {Promise<Schemas["BlockListOutput"]>} */
  blocks() { return this.request("GET", "/api/blocks"); }
  /** @param {string} userId @returns {Promise<Schemas["BlockOutput"]>} */
  block(userId) { return this.request("POST", `/api/blocks/${userId}`); }
  /** @param {string} userId @returns {Promise<null>} */
  unblock(userId) { return this.request("DELETE", `/api/blocks/${userId}`); }
  /** @param {{cursor?: string, page_size?: number}} [q] @returns {Promise<Schemas["CallHistoryPageOutput"]>} */
  history(q = {}) { return this.request("GET", "/api/history", { query: q }); }
  /** @param {number} historyId @param {{cursor?: string, page_size?: number}} [q] @returns {Promise<Schemas["TranscriptPageOutput"]>} */
  transcript(historyId, q = {}) { return this.request("GET", `/api/history/${historyId}/messages`, { query: q }); }
  /** @param {string} roomId @param {{cursor?: string, page_size?: number}} [q] @returns {Promise<Schemas["TranscriptPageOutput"]>} */
  roomTranscript(roomId, q = {}) { return this.request("GET", `/api/rooms/${roomId}/messages`, { query: q }); }
  /** @returns {Promise<Schemas["CooldownListOutput"]>} */
  cooldowns() { return this.request("GET", "/api/cooldowns"); }
  /** @returns {Promise<Schemas["RtcConfigOutput"]>} */
  rtcConfig() { return this.request("GET", "/api/rtc-config"); }

  // --- moderation ----------------------------------------------------------------------------------
  /** @param {Schemas["ReportCreateInputRequest"]} body @returns {Promise<Schemas["ReportMineOutput"]>} */
  report(body) { return this.request("POST", "/api/reports", { json: body }); }
  /** @returns {Promise<Schemas["ReportMineOutput"][]>} */
  myReports() { return this.request("GET", "/api/reports/mine"); }

  // --- invites, intros, notifications, USC card -----------------------------------------------------
  /** @returns {Promise<Schemas["MyInviteOutput"]>} */
  myInvite() { return this.request("GET", "/api/invites/mine"); }
  /** @param {string} targetUserId @returns {Promise<Schemas["ReferralOutput"]>} */
  createReferral(targetUserId) { return this.request("POST", "/api/referrals", { json: { target_user_id: targetUserId } }); }
  /** @param {string} token @returns {Promise<Schemas["ReferralPreviewOutput"]>} */
  referralPreview(token) { return this.request("GET", `/api/referrals/${encodeURIComponent(token)}`, { auth: false }); }
  /** @param {{unread?: boolean}} [q] @returns {Promise<Schemas["NotificationListOutput"]>} */
  notifications(q = {}) { return this.request("GET", "/api/notifications", { query: q }); }
  /** @param {number} id @returns {Promise<Schemas["NotificationOutput"]>} */
  notificationRead(id) { return this.request("POST", `/api/notifications/${id}/read`); }
  /** @returns {Promise<Schemas["NotificationsReadAllOutput"]>} */
  notificationsReadAll() { return this.request("POST", "/api/notifications/read-all"); }
  /** @param {string} raw what the barcode scanner read (or the typed ID) @param {string} [device_id] @returns {Promise<Schemas["UscScanOutput"]>} */
  uscScan(raw, device_id = "") { return this.request("POST", "/api/usc/scan", { json: { raw, device_id } }); }
  /** @param {string} scan_token @returns {Promise<Schemas["UscRegistrationOutput"]>} */
  uscFinalize(scan_token) { return this.request("POST", "/api/usc/finalize-registration", { json: { scan_token } }); }
}

// ------------------------------------------------------------------------------------------------
// Chat bookkeeping (pure: no sockets, no timers — tested on their own)
// ------------------------------------------------------------------------------------------------

/** Chat messages not yet acked, in the order they were written.  Each keeps its client_id until acked. */
export class Outbox {
  constructor() {
    /** @type {Map<string, OutboxEntry>} */
    this._entries = new Map();
  }
  /** @param {string} body @param {string|null} roomId @param {string} [clientId] @returns {OutboxEntry} */
  add(body, roomId, clientId = newClientId()) {
    const entry = { client_id: clientId, body, room_id: roomId, sentAt: 0 };
    this._entries.set(clientId, entry);
    return entry;
  }
  /** @param {string} clientId @returns {boolean} whether it was pending */
  ack(clientId) { return this._entries.delete(clientId); }
  /** @param {string} clientId */
  get(clientId) { return this._entries.get(clientId); }
  /** @returns {OutboxEntry[]} pending entries, oldest first */
  pending() { return [...this._entries.values()]; }
  get size() { return this._entries.size; }
  /** Drop everything (the room ended: the server would refuse them). @returns {OutboxEntry[]} */
  clear() {
    const all = this.pending();
    this._entries.clear();
    return all;
  }
}

/**
 * A room's transcript as the client knows it: merged from acks, pushes and replays, each
 * message once (by server `id`), in `seq` order, with gap detection on `seq`.
 */
export class Transcript {
  /** @param {string|null} roomId */
  constructor(roomId = null) {
    this.roomId = roomId;
    /** @type {Map<number, Message>} */
    this._byId = new Map();
    /** @type {Message[]} */
    this.messages = [];
  }
  /** Highest server id seen (what `room.replay {after_id}` asks after). */
  get lastId() {
    let max = 0;
    for (const id of this._byId.keys()) if (id > max) max = id;
    return max;
  }
  /** The highest seq n such that 1..n are all here. */
  get contiguousSeq() {
    let n = 0;
    for (const m of this.messages) {
      if (m.seq === n + 1) n = m.seq;
      else if (m.seq > n + 1) break;
    }
    return n;
  }
  /** The id of the last message before the first gap (replay after it), or lastId when none. */
  get replayAfterId() {
    const n = this.contiguousSeq;
    if (n === 0) return 0;
    const m = this.messages.find((x) => x.seq === n);
    return m ? m.id : 0;
  }
  /** True when some seq is missing below the highest one. */
  get hasGap() {
    const last = this.messages.length ? this.messages[this.messages.length - 1].seq : 0;
    return this.contiguousSeq < last;
  }
  /**
   * Merge messages; ones already known (same id) are dropped.
   * @param {Message[]} msgs
   * @returns {Message[]} the newly added ones
   */
  merge(msgs) {
    const added = [];
    for (const m of msgs) {
      if (!m || typeof m.id !== "number") continue;
      if (this.roomId && m.room_id && m.room_id !== this.roomId) continue;
      if (this._byId.has(m.id)) continue;
      this._byId.set(m.id, m);
      added.push(m);
    }
    if (added.length) this.messages = [...this._byId.values()].sort((a, b) => a.seq - b.seq || a.id - b.id);
    return added;
  }
  /** @param {string} clientId */
  hasClientId(clientId) { return this.messages.some((m) => m.client_id === clientId); }
}

// ------------------------------------------------------------------------------------------------
// Realtime session
// ------------------------------------------------------------------------------------------------

/** A tiny event emitter (works in browsers and node). */
class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._handlers = new Map();
  }
  /**
   * Subscribe; "*" receives every event as (type, data).  Returns an unsubscribe function.
   * @param {string} type @param {Function} fn
   */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type)?.delete(fn);
  }
  /** @param {string} type @param {any} [data] */
  emit(type, data) {
    for (const fn of [...(this._handlers.get(type) || [])]) {
      try { fn(data); } catch (err) { console.error(`handler for ${type} failed`, err); }
    }
    for (const fn of [...(this._handlers.get("*") || [])]) {
      try { fn(type, data); } catch (err) { console.error("handler for * failed", err); }
    }
  }
}

/**
 * One realtime session: a WebSocket to `/ws/` that authenticates, heart-beats, reconnects with
 * jittered backoff, re-sends presence, resends unacked chat, replays missed messages and watches
 * `seq` for gaps.  Events (subscribe with `on`):
 *
 * - `state` {state, attempt?, delayMs?, code?}: connection state changes (ConnectionState)
 * - `ready` auth.ok body — after every (re)authentication
 * - `signed_out` {code}: 4401, the token is no longer valid (sign in again); no reconnect
 * - `banned` {code, message?}: 4403; no reconnect
 * - `room` {room, reason}: the current room changed (reason: "auth", "started", "resumed", "state",
 *   "peer_disconnected"); `room.ended` {…, while_away?}: it ended (room is null afterwards)
 * - `transcript` {messages, added}: the room's messages changed (merged, deduplicated, seq order)
 * - `outbox` {pending}: unacked messages changed; `outbox.failed` {entry, error}: a message was refused
 * - `gap` {after_id}: a seq gap was seen and a replay requested
 * - every server message by its type too: `invite.received`, `invite.sent`, `invite.declined`,
 *   `invite.cancelled`, `invite.expired`, `invite.failed`, `room.typing`, `room.inactivity_warning`,
 *   `room.inactivity_cleared`, `offer`, `answer`, `ice-candidate`, `room.relay`, `error`, …
 */
export class Session extends Emitter {
  /**
   * @param {{url?: string, token: string, WebSocket?: any, random?: () => number,
   *          setTimeout?: typeof setTimeout, clearTimeout?: typeof clearTimeout, now?: () => number,
   *          backoff?: {baseMs?: number, maxMs?: number, roomMaxMs?: number}, requestTimeoutMs?: number,
   *          gapWaitMs?: number, resendAfterMs?: number}} opts
   *   url: the `/ws/` URL; default: this page's origin (ws:// or wss://).
   */
  constructor(opts) {
    super();
    this.url = opts.url || Session.defaultUrl();
    this.token = opts.token;
    this._WS = opts.WebSocket || globalThis.WebSocket;
    this._random = opts.random || Math.random;
    this._setTimeout = opts.setTimeout || globalThis.setTimeout.bind(globalThis);
    this._clearTimeout = opts.clearTimeout || globalThis.clearTimeout.bind(globalThis);
    this._now = opts.now || (() => Date.now());
    this._backoff = opts.backoff || {};
    this._requestTimeoutMs = opts.requestTimeoutMs ?? 10000;
    this._gapWaitMs = opts.gapWaitMs ?? 1000;
    this._resendAfterMs = opts.resendAfterMs ?? 8000;
    /** @type {ConnectionState} */
    this.state = "idle";
    /** @type {any} */
    this.ws = null;
    /** @type {Card|null} */
    this.user = null;
    /** @type {Room|null} */
    this.room = null;
    this.transcript = new Transcript(null);
    this.outbox = new Outbox();
    /** whether this client wants to be in the queue (re-sent after every reconnect) */
    this.wantAvailable = false;
    this.heartbeatSeconds = 20;
    this.attempt = 0;
    this._ref = 0;
    /** @type {Map<string, {resolve: Function, reject: Function, timer: any, expect: string}>} */
    this._pending = new Map();
    this._timers = { heartbeat: null, reconnect: null, gap: null, resend: null, watchdog: null, auth: null };
    this._replaying = false;
    this._replayAgain = false;
    this._stopped = false;
    this._lastFrameAt = 0;
    this._retryAfter = 0;
  }

  /** The `/ws/` URL of the page's own origin. */
  static defaultUrl() {
    const loc = globalThis.location;
    if (!loc) return "ws://127.0.0.1:8000/ws/";
    return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/ws/";
  }

  /** Open the socket (and keep it open until `close()`). */
  connect() {
    this._stopped = false;
    this._open();
  }

  /** Close for good (sign out, page leaving): no reconnect. */
  close() {
    this._stopped = true;
    this._clearAllTimers();
    this._setState("closed");
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
    this._rejectPending(new Error("closed"));
  }

  get connected() { return this.state === "open"; }

  /**
   * Skip the rest of a reconnect delay and try now (e.g. when the browser says it is `online`
   * again, or the page became visible).  Does nothing while connected or after `close()`.
   */
  reconnectNow() {
    if (this._stopped || !this._timers.reconnect) return;
    this._clearTimer("reconnect");
    this._open();
  }

  // --- commands ------------------------------------------------------------------------------------
  /**
   * Send a message as is (fire and forget).  Returns false when not connected.
   * @param {ClientMessage["type"]} type @param {Record<string, any>} [fields]
   */
  send(type, fields = {}) {
    if (!this.ws || this.state !== "open") return false;
    this._raw({ type, ...fields });
    return true;
  }

  /**
   * Send with a `ref` and wait for the direct reply (or the error) carrying it.
   * @param {ClientMessage["type"]} type @param {Record<string, any>} [fields]
   * @returns {Promise<any>}
   */
  request(type, fields = {}) {
    if (!this.ws || this.state !== "open") return Promise.reject(new ApiError(0, "not_connected", "Not connected."));
    const ref = "r" + ++this._ref;
    return new Promise((resolve, reject) => {
      const timer = this._setTimeout(() => {
        this._pending.delete(ref);
        reject(new ApiError(0, "timeout", `No answer to ${type}.`));
      }, this._requestTimeoutMs);
      this._pending.set(ref, { resolve, reject, timer, expect: type });
      this._raw({ type, ...fields, ref });
    });
  }

  /** Join or leave the queue.  Remembered: re-sent after every reconnect (availability is per socket). */
  setAvailable(available) {
    this.wantAvailable = !!available;
    if (this.state === "open") return this.request("presence.set", { available: this.wantAvailable });
    return Promise.resolve({ type: "presence.state", state: "offline", available: this.wantAvailable, queued: true });
  }
  /** @param {{offset?: number, limit?: number, include_cooldown?: boolean}} [q] */
  queue(q = {}) { return this.request("queue.get", q); }
  /** @param {string} userId */
  skip(userId) { return this.request("queue.skip", { user: userId }); }
  /** @param {string} to @param {"video"|"text"} mode @param {number} seconds */
  invite(to, mode, seconds) { return this.send("invite.send", { to, mode, seconds }); }
  /** @param {string} inviteId */
  accept(inviteId) { return this.send("invite.accept", { invite_id: inviteId }); }
  /** @param {string} inviteId */
  decline(inviteId) { return this.send("invite.decline", { invite_id: inviteId }); }
  /** @param {string} inviteId */
  cancel(inviteId) { return this.send("invite.cancel", { invite_id: inviteId }); }
  endRoom() { return this.send("room.end"); }
  /** @param {boolean} typing */
  typing(typing) { return this.send("room.typing", { typing }); }
  /** WebRTC signaling (video rooms). @param {"offer"|"answer"} type @param {string} sdp */
  signal(type, sdp) { return this.send(type, { sdp }); }
  /** @param {RTCIceCandidateInit|null} candidate */
  iceCandidate(candidate) {
    const c = candidate
      ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null,
          usernameFragment: candidate.usernameFragment ?? null }
      : null;
    return this.send("ice-candidate", { candidate: c });
  }

  /**
   * Send a chat message in the current room.  It stays in the outbox (and is resent with the same
   * client_id after a reconnect) until the server acks it.
   * @param {string} body
   * @returns {OutboxEntry}
   */
  sendMessage(body) {
    const entry = this.outbox.add(body, this.room ? this.room.id : null);
    this._emitOutbox();
    this._sendEntry(entry);
    this._armResend();
    return entry;
  }

  // --- internals -----------------------------------------------------------------------------------
  /** @param {ConnectionState} state @param {Record<string, any>} [extra] */
  _setState(state, extra = {}) {
    if (this.state === state && !Object.keys(extra).length) return;
    this.state = state;
    this.emit("state", { state, ...extra });
  }

  _open() {
    if (this._stopped) return;
    this._setState(this.attempt === 0 && !this.user ? "connecting" : "reconnecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new this._WS(this.url);
    } catch (err) {
      this._scheduleReconnect(1006);
      return;
    }
    this.ws = ws;
    this._authed = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      // auth first, at once: the server closes sockets that do not authenticate within 5 s
      ws.send(JSON.stringify({ type: "auth", token: this.token }));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this._lastFrameAt = this._now();
      let msg;
      try { msg = JSON.parse(typeof ev.data === "string" ? ev.data : ""); } catch { return; }
      if (msg && typeof msg.type === "string") this._onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this._onClose(ev && typeof ev.code === "number" ? ev.code : 1006, ev && ev.reason);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /** @param {{type: ClientMessage["type"], [field: string]: any}} msg */
  _raw(msg) {
    try { this.ws.send(JSON.stringify(msg)); } catch { /* onclose follows */ }
  }

  /** @param {number} code @param {string} [reason] */
  _onClose(code, reason) {
    this._clearTimer("heartbeat");
    this._clearTimer("watchdog");
    this._clearTimer("resend");
    this._rejectPending(new ApiError(0, "disconnected", "The connection was lost."));
    if (this._stopped) return;
    if (code === CLOSE.AUTH_FAILED) {
      this._stopped = true;
      this._setState("signed_out", { code });
      this.emit("signed_out", { code, reason });
      return;
    }
    if (code === CLOSE.BANNED) {
      this._stopped = true;
      this._setState("banned", { code });
      this.emit("banned", { code, message: this._banMessage || reason || "" });
      return;
    }
    this._scheduleReconnect(code);
  }

  /** 4503 (server restarting): at once (0–0.5 s); 4429 (busy): `retry_after` × random(1, 2); 4408,
   * 1006 and the rest: jittered backoff (0.5 s, 1 s, 2 s … up to 8 s; at most 2 s while in a room).
   * @param {number} code */
  _scheduleReconnect(code) {
    // in a call the grace window is short (10 s): keep retrying every 1–2 s instead of backing off further
    const opts = { ...this._backoff, random: this._random };
    if (this.room) opts.maxMs = Math.min(opts.maxMs ?? 8000, this._backoff.roomMaxMs ?? 2000);
    let delayMs = backoffDelay(this.attempt, opts);
    if (code === CLOSE.SERVER_RESTART && this.attempt === 0) delayMs = Math.round(this._random() * 500);
    if (code === CLOSE.BUSY && this._retryAfter) delayMs = Math.round(this._retryAfter * 1000 * (1 + this._random()));
    this._retryAfter = 0;
    this.attempt += 1;
    this._setState("reconnecting", { attempt: this.attempt, delayMs, code });
    this._clearTimer("reconnect");
    this._timers.reconnect = this._setTimeout(() => {
      this._timers.reconnect = null;
      this._open();
    }, delayMs);
  }

  /** @param {ServerMessage & {handled?: boolean}} msg */
  _onMessage(msg) {
    const ref = /** @type {{ref?: string|number}} */ (msg).ref;
    if (ref !== undefined && this._pending.has(String(ref))) {
      const p = this._pending.get(String(ref));
      this._pending.delete(String(ref));
      this._clearTimeout(p.timer);
      msg.handled = true; // the caller got it (an `error` event still follows, marked)
      if (msg.type === "error") p.reject(new ApiError(0, msg.code, msg.message, msg.fields, msg));
      else p.resolve(msg);
    }
    switch (msg.type) {
      case "auth.ok": this._onAuthOk(msg); break;
      case "room.started": this._setRoom(msg.room, "started"); break;
      case "room.resumed": this._setRoom(msg.room, "resumed"); break;
      case "room.state": this._setRoom(msg.room, "state"); break;
      case "room.peer_disconnected": this._setRoom(msg.room, "peer_disconnected"); break;
      case "room.ended": this._onRoomEnded(msg); return; // emitted there, with the transcript
      case "room.message": this._merge([msg.message]); break;
      case "room.message.ack": this._onAck(msg); break;
      case "room.messages": this._onReplay(msg); break;
      case "error": this._onError(msg); break;
      case "banned": // just before the 4403 close: the reason is shown with the `banned` event then
        this._banMessage = msg.reason || "";
        break;
      default: break;
    }
    this.emit(msg.type, msg);
  }

  /** @param {ServerMessageMap["auth.ok"]} ok */
  _onAuthOk(ok) {
    this.user = ok.user;
    this.attempt = 0;
    this.heartbeatSeconds = ok.heartbeat_seconds || 20;
    this._offlineTimeoutSeconds = ok.offline_timeout_seconds || 60;
    this._setState("open");
    this._startHeartbeat();
    if (this.wantAvailable) this.request("presence.set", { available: true }).catch(() => {});
    const hadRoom = this.room;
    if (ok.room) {
      this._setRoom(ok.room, "auth");
      this._flushOutbox();
    } else if (hadRoom) {
      // the room ended while we were away: GET /api/history has it
      this._onRoomEnded({ type: "room.ended", room_id: hadRoom.id, reason: null, while_away: true });
    }
    this.emit("ready", ok);
  }

  /** @param {RoomView|null} room @param {string} reason */
  _setRoom(room, reason) {
    if (!room) {
      if (this.room) this._onRoomEnded({ type: "room.ended", room_id: this.room.id, reason: null, while_away: true });
      return;
    }
    if (!this.room || this.room.id !== room.id) {
      this.transcript = new Transcript(room.id);
      for (const e of this.outbox.pending()) if (e.room_id && e.room_id !== room.id) this.outbox.ack(e.client_id);
      for (const e of this.outbox.pending()) if (!e.room_id) e.room_id = room.id;
    }
    this.room = { ...room, _receivedAt: this._now() };
    this.emit("room", { room: this.room, reason });
    if (reason === "auth" || reason === "resumed") this._replay();
    if (reason === "started" || reason === "resumed") this._flushOutbox();
  }

  /** @param {any} msg */
  _onRoomEnded(msg) {
    if (this.room && msg.room_id && msg.room_id !== this.room.id) return;
    const ended = this.room;
    this.room = null;
    const dropped = this.outbox.clear();
    this._clearTimer("gap");
    this._clearTimer("resend");
    if (dropped.length) this._emitOutbox();
    // {room_id, reason, ended_by_you, duration_seconds, cooldown_until} from the server, or
    // {room_id, reason: null, while_away: true} when it ended while we were disconnected
    this.emit("room.ended", { ...msg, room: ended, transcript: this.transcript, dropped });
  }

  /** @param {ServerMessageMap["room.message.ack"]} msg */
  _onAck(msg) {
    this.outbox.ack(msg.client_id);
    this._emitOutbox();
    if (msg.message) this._merge([msg.message]);
  }

  /** @param {ServerMessageMap["error"] & {handled?: boolean}} msg */
  _onError(msg) {
    if (msg.code === "busy") {
      this._retryAfter = Number(msg.retry_after) || 1; // a 4429 close follows: that is the answer
      msg.handled = true;
      return;
    }
    if (msg.code === "unavailable" && this.state !== "open" && msg.ref === undefined && this.ws) {
      // the answer to `auth` while the server's Redis is down: the socket stays open; ask again
      const ws = this.ws;
      this._clearTimer("auth");
      this._timers.auth = this._setTimeout(() => {
        this._timers.auth = null;
        if (ws === this.ws && this.state !== "open") this._raw({ type: "auth", token: this.token });
      }, Math.max(1000, (msg.retry_after || 1) * 1000));
      return;
    }
    const ref = typeof msg.ref === "string" ? msg.ref : "";
    if (ref.startsWith("m:")) {
      msg.handled = true;
      const clientId = ref.slice(2);
      const entry = this.outbox.get(clientId);
      if (!entry) return;
      if (msg.code === "rate_limited" || msg.code === "unavailable") {
        // unavailable: the server's Redis is down; the message may be stored already — resending
        // it with the same client_id is safe (acked and stored once)
        entry.sentAt = -Infinity; // the resend timer sends it again, once the limit allows
        this._clearTimer("resend");
        this._armResend(Math.max(1000, (msg.retry_after || 1) * 1000));
        return;
      }
      if (msg.code === "server_error") return; // keep it; resent later
      this.outbox.ack(clientId);
      this._emitOutbox();
      this.emit("outbox.failed", { entry, error: new ApiError(0, msg.code, msg.message, msg.fields, msg) });
    }
  }

  /** @param {Message[]} msgs */
  _merge(msgs) {
    if (!this.room) return;
    const added = this.transcript.merge(msgs);
    if (added.length) {
      for (const m of added) if (this.outbox.ack(m.client_id)) this._emitOutbox();
      this.emit("transcript", { messages: this.transcript.messages, added });
    }
    this._checkGap();
  }

  _checkGap() {
    if (!this.transcript.hasGap) {
      this._clearTimer("gap");
      return;
    }
    if (this._timers.gap) return;
    // a gap usually means the missing message is still on its way: give it a moment, then replay
    this._timers.gap = this._setTimeout(() => {
      this._timers.gap = null;
      if (this.transcript.hasGap && this.room) {
        this.emit("gap", { after_id: this.transcript.replayAfterId });
        this._replay(this.transcript.replayAfterId);
      }
    }, this._gapWaitMs);
  }

  /** Ask for everything after `afterId` (default: the last id seen), page by page. @param {number} [afterId] */
  _replay(afterId) {
    if (!this.room || this.state !== "open") return;
    if (this._replaying) {
      this._replayAgain = true;
      return;
    }
    this._replaying = true;
    const after = afterId ?? Math.min(this.transcript.lastId, this.transcript.hasGap ? this.transcript.replayAfterId : Infinity);
    this.request("room.replay", { after_id: after }).then(
      () => {},
      () => { this._replaying = false; },
    );
  }

  /** @param {ServerMessageMap["room.messages"]} msg */
  _onReplay(msg) {
    this._replaying = false;
    if (this.room && msg.room_id === this.room.id) {
      this._merge(msg.messages || []);
      if (msg.has_more && msg.messages && msg.messages.length) {
        this._replay(msg.messages[msg.messages.length - 1].id);
        return;
      }
    }
    if (this._replayAgain) {
      this._replayAgain = false;
      this._replay();
    }
  }

  _flushOutbox() {
    if (!this.room || this.state !== "open") return;
    for (const e of this.outbox.pending()) this._sendEntry(e);
    this._armResend();
  }

  /** @param {OutboxEntry} entry */
  _sendEntry(entry) {
    if (!this.room || this.state !== "open" || !this.ws) return;
    entry.sentAt = this._now();
    this._raw({ type: "room.message", client_id: entry.client_id, body: entry.body, ref: "m:" + entry.client_id });
  }

  /** While anything is unacked, resend entries older than resendAfterMs (same client_id: no doubles). */
  _armResend(delay = this._resendAfterMs) {
    if (this._timers.resend || !this.outbox.size) return;
    this._timers.resend = this._setTimeout(() => {
      this._timers.resend = null;
      const now = this._now();
      for (const e of this.outbox.pending()) if (now - e.sentAt >= this._resendAfterMs - 1) this._sendEntry(e);
      this._armResend();
    }, delay);
  }

  _emitOutbox() { this.emit("outbox", { pending: this.outbox.pending() }); }

  _startHeartbeat() {
    this._clearTimer("heartbeat");
    const every = this.heartbeatSeconds * 1000;
    const beat = () => {
      this._timers.heartbeat = this._setTimeout(() => {
        if (this.state !== "open") return;
        const sentAt = this._now();
        this._raw({ type: "heartbeat" });
        // a silent half-open socket (no ack within one interval) is treated as lost
        this._clearTimer("watchdog");
        this._timers.watchdog = this._setTimeout(() => {
          this._timers.watchdog = null;
          if (this._lastFrameAt < sentAt && this.ws) {
            const ws = this.ws;
            this.ws = null;
            try { ws.close(4000); } catch { /* ignore */ }
            this._onClose(1006, "heartbeat timeout");
          }
        }, Math.min(every, 15000));
        beat();
      }, every);
    };
    beat();
  }

  /** @param {any} err */
  _rejectPending(err) {
    for (const [ref, p] of this._pending) {
      this._clearTimeout(p.timer);
      p.reject(err);
      this._pending.delete(ref);
    }
    this._replaying = false;
  }

  /** @param {keyof Session["_timers"]} name */
  _clearTimer(name) {
    if (this._timers[name]) {
      this._clearTimeout(this._timers[name]);
      this._timers[name] = null;
    }
  }

  _clearAllTimers() {
    for (const k of Object.keys(this._timers)) this._clearTimer(/** @type {any} */ (k));
  }

  /** Seconds left on the room's timer, counted locally from the server's `remaining_seconds`. */
  remainingSeconds() {
    if (!this.room) return 0;
    const elapsed = (this._now() - this.room._receivedAt) / 1000;
    return Math.max(0, Math.round(this.room.remaining_seconds - elapsed));
  }
}
