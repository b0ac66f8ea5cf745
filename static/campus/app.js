// The reference student app: plain ES modules on the SDK (sdk.js, call.js).  Hash routes:
// #/welcome #/login #/card #/photo #/video #/queue #/room #/ended #/history #/me #/banned
import { Api, ApiError, Session } from "./sdk.js";
import { VideoCall } from "./call.js";

const CONFIG = JSON.parse(document.getElementById("campus-config").textContent);
const TOKEN_KEY = "campus.token";
const AVAILABLE_KEY = "campus.available";
const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const banner = /** @type {HTMLElement} */ (document.getElementById("banner"));

/** Everything the app knows; the SDK owns the connection state. */
const state = {
  /** @type {any} */ me: null,
  /** @type {Session|null} */ session: null,
  /** @type {VideoCall|null} */ call: null,
  /** @type {MediaStream|null} */ localStream: null,
  /** @type {MediaStream|null} */ remoteStream: null,
  /** @type {any} */ incoming: null,
  /** @type {any} */ outgoing: null,
  /** @type {any} */ ended: null,
  /** @type {any[]} */ queue: [],
  seconds: Math.min(Math.max(300, CONFIG.call_min_seconds), CONFIG.call_max_seconds),
  peerTyping: false,
  /** @type {Record<string, any>} inactivity warnings by the silent user's id */ torch: {},
  mic: true,
  cam: true,
  /** @type {string|null} */ usc_scan_token: null,
  /** signing out or deleting the account on purpose: the 4401 that closes this device's socket is expected */
  leaving: false,
  usc_last4: "",
};
window.campus = state; // for debugging (and the browser tests)

const api = new Api({ token: sessionStorage.getItem(TOKEN_KEY) });

// ---------------------------------------------------------------------------------------------
// DOM helpers (textContent only: user text is never parsed as HTML)
// ---------------------------------------------------------------------------------------------
/**
 * @param {string} tag  e.g. "button.primary#go"
 * @param {Record<string, any>|null} [attrs]
 * @param {...any} children
 * @returns {any}
 */
function h(tag, attrs, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || "div");
  for (const part of rest) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className += " " + v;
    else if (k in el && typeof v !== "string") /** @type {any} */ (el)[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** @param {...any} nodes */
function render(...nodes) {
  main.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

/** @param {string} text @param {"info"|"error"|"ok"} [kind] */
function toast(text, kind = "info") {
  const el = h("div.toast", { class: kind }, text);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 6000 : 4000);
}

/** @param {any} card @param {string} [size] */
function avatar(card, size = "") {
  if (card && card.photo_url) return h("img.avatar", { class: size, src: card.photo_url, alt: "" });
  const initial = ((card && card.name) || "?").trim().charAt(0).toUpperCase();
  return h("span.avatar.initial", { class: size, "aria-hidden": "true" }, initial);
}

/** @param {number} s */
function fmtDuration(s) {
  s = Math.max(0, Math.round(s));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

/** @param {string} iso */
function fmtTime(iso) {
  try {
    return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  } catch {
    return iso;
  }
}

/** Show field errors of an ApiError next to inputs named like the fields. @param {HTMLFormElement} form @param {any} err */
function showErrors(form, err) {
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  let shown = false;
  if (err instanceof ApiError) {
    for (const [field, msgs] of Object.entries(err.fields || {})) {
      const input = form.querySelector(`[name="${field}"]`);
      if (input) {
        const id = `err-${field}`;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
        (input.closest(".field") || input.parentElement).append(h("span.field-error", { id, role: "alert" }, msgs.join(" ")));
        shown = true;
      }
    }
  }
  if (!shown) {
    const box = form.querySelector(".form-error") || form.appendChild(h("p.form-error", { role: "alert" }));
    box.textContent = err && err.message ? err.message : String(err);
  } else {
    form.querySelector(".form-error")?.remove();
  }
}

/**
 * Run a form submit with the button disabled and errors shown.
 * @param {HTMLFormElement} form @param {(data: Record<string, string>) => Promise<any>} fn
 */
function onSubmit(form, fn) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const data = Object.fromEntries(new FormData(form).entries());
      await fn(/** @type {any} */ (data));
      form.querySelector(".form-error")?.remove();
    } catch (err) {
      showErrors(form, err);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

let fieldSeq = 0;
/** A labelled input; the hint is its description, not part of its name. @param {string} label @param {any} input @param {string} [hint] */
function field(label, input, hint) {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  const hintEl = hint ? h("span.hint", { id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return h("div.field", null, h("label.label", { for: id }, label), input, hintEl);
}

function genderSelect(value = "unspecified") {
  const opts = [
    ["unspecified", "Prefer not to say"], ["female", "Female"], ["male", "Male"], ["nonbinary", "Non-binary"], ["other", "Other"],
  ];
  return h("select", { name: "gender" }, opts.map(([v, t]) => h("option", { value: v, selected: v === value }, t)));
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------
const routes = {
  welcome: renderWelcome, login: renderLogin, card: renderCard, photo: renderPhoto, video: renderIntroVideo,
  queue: renderQueue, room: renderRoom, ended: renderEnded, history: renderHistory, me: renderMe, banned: renderBanned,
};
const PUBLIC = new Set(["welcome", "login", "card", "banned"]);

function route() {
  return (location.hash.replace(/^#\/?/, "").split("?")[0] || "") || (api.token ? "queue" : "welcome");
}

/** @param {string} name */
function go(name) {
  if (route() === name && location.hash) renderRoute();
  else location.hash = "#/" + name;
}

let timers = /** @type {any[]} */ ([]);
function clearTimers() {
  for (const t of timers) clearInterval(t);
  timers = [];
}

function renderRoute() {
  clearTimers();
  let name = route();
  if (!api.token && !PUBLIC.has(name)) name = "welcome";
  if (api.token && state.session && state.session.room && name !== "room") name = "room";
  if (name === "room" && !(state.session && state.session.room)) name = state.ended ? "ended" : "queue";
  const fn = routes[/** @type {keyof typeof routes} */ (name)] || renderQueue;
  document.getElementById("nav").hidden = !api.token || !state.me || name === "room" || PUBLIC.has(name);
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("data-route") === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.body.dataset.route = name;
  fn();
  const heading = main.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · Campus Chat`;
}
window.addEventListener("hashchange", renderRoute);
// the tab you are on, clicked again, shows it afresh (the hash doesn't change, so no hashchange)
document.getElementById("nav").addEventListener("click", (e) => {
  const a = /** @type {HTMLElement} */ (e.target).closest("a");
  if (a && a.getAttribute("href") === location.hash) renderRoute();
});

// ---------------------------------------------------------------------------------------------
// Sign-up, login, card, photo, intro video
// ---------------------------------------------------------------------------------------------
function renderWelcome() {
  const inviteNeeded = !CONFIG.open_signup;
  const inviteInput = h("input", { name: "invite_code", value: CONFIG.invite_code || "", autocomplete: "off",
    required: inviteNeeded && !state.usc_scan_token, spellcheck: false, autocapitalize: "characters" });
  const form = h("form.card.stack", { novalidate: true },
    field("Your first name", h("input", { name: "name", required: true, maxlength: 50, autocomplete: "given-name" })),
    field("Gender", genderSelect()),
    // a checked USC card replaces the invite code: the field stays available, folded away
    (inviteNeeded && !state.usc_scan_token) || CONFIG.invite_code
      ? field(inviteNeeded ? "Invite code" : "Invite code (optional)", inviteInput,
        inviteNeeded ? "Sign-up is invite-only: use a friend's code, or your USC card below." : "")
      : h("details.more", null, h("summary", null, "I have an invite code"), field("Invite code", inviteInput)),
    state.usc_scan_token
      ? h("p.ok-note", null, `USC card ending ${state.usc_last4} checked ✓`)
      : h("p.muted", null, "Student? ", h("a", { href: "#/card" }, "Sign up with your USC card"), " instead."),
    h("button.primary.wide", { type: "submit" }, "Start chatting"),
  );
  onSubmit(form, async (data) => {
    const r = await api.guestSignup({
      name: data.name, gender: data.gender, invite_code: (data.invite_code || "").trim(),
      usc_scan_token: state.usc_scan_token || "", referral_token: CONFIG.referral_token || "",
      device_name: deviceName(),
    });
    sessionStorage.setItem(TOKEN_KEY, r.token);
    state.me = r.user;
    CONFIG.referral_token = "";
    CONFIG.invite_code = "";
    startSession();
    history.replaceState(null, "", "/#/photo");
    renderRoute();
  });
  const intro = h("p.intro-note", { hidden: true });
  if (CONFIG.referral_token) {
    api.referralPreview(CONFIG.referral_token).then(
      (p) => { intro.textContent = `${p.introducer_name} wants you to meet ${p.target_name}. Sign up and they'll be first in your list.`; intro.hidden = false; },
      () => { intro.textContent = "This intro link is no longer valid, but you can still sign up."; intro.hidden = false; },
    );
  }
  render(
    h("section.hero", null,
      h("h1", null, "Meet someone new on campus"),
      h("p.lead", null, "Timed 1:1 video or text chats with students near you. Calls survive a flaky connection."),
    ),
    intro,
    form,
    h("p.center.muted", null, "Made your account permanent? ", h("a", { href: "#/login" }, "Log in")),
  );
  form.querySelector("input[name=name]").focus();
}

function deviceName() {
  const ua = navigator.userAgent;
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac/.test(ua) ? "Mac" : /Windows/.test(ua) ? "Windows" : "Linux";
  return `Browser on ${os}`;
}

function renderLogin() {
  const form = h("form.card.stack", null,
    field("E-mail", h("input", { name: "email", type: "email", required: true, autocomplete: "email" })),
    field("Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
    h("button.primary.wide", { type: "submit" }, "Log in"),
  );
  onSubmit(form, async (data) => {
    const r = await api.login({ email: data.email, password: data.password, device_name: deviceName() });
    sessionStorage.setItem(TOKEN_KEY, r.token);
    state.me = r.user;
    startSession();
    go("queue");
  });
  render(h("h1", null, "Log in"), form, h("p.center.muted", null, "New here? ", h("a", { href: "#/welcome" }, "Sign up as a guest")));
}

/** The USC card step: a camera barcode scan where BarcodeDetector exists, the typed ID otherwise. */
function renderCard() {
  const signedIn = !!api.token;
  const status = h("p.muted", { "aria-live": "polite" });
  const video = h("video.scanner", { muted: true, playsinline: true, hidden: true, "aria-label": "Camera preview for the card scan" });
  const canScan = "BarcodeDetector" in window;
  const form = h("form.card.stack", null,
    field("Student ID (10 digits)", h("input", { name: "raw", inputmode: "numeric", autocomplete: "off", required: true }),
      canScan ? "Type the number printed on your card, or scan its barcode." : "Type the number printed on your card."),
    h("button.primary.wide", { type: "submit" }, signedIn ? "Register my card" : "Check my card"),
    canScan ? null : h("p.center.muted.small", null, "This browser can't read barcodes with the camera, so type the ID."),
  );
  const submit = async (/** @type {string} */ raw, typed = false) => {
    let scan;
    try {
      scan = await api.uscScan(raw, deviceId());
    } catch (err) {
      // the server's message speaks of scanning; a typed ID gets told what to type
      if (typed && err instanceof ApiError && err.code === "card_unreadable") {
        err.fields = { raw: ["That isn't a student ID: type the 10 digits printed on your card."] };
      }
      throw err;
    }
    if (signedIn) {
      await api.uscFinalize(scan.scan_token);
      toast(`USC card ending ${scan.last4} registered.`, "ok");
      go("me");
    } else {
      state.usc_scan_token = scan.scan_token;
      state.usc_last4 = scan.last4;
      go("welcome");
    }
  };
  onSubmit(form, (data) => submit(data.raw, true));
  let stream = null;
  const scanButton = canScan
    ? h("button.secondary.wide", { type: "button", onclick: async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      } catch {
        status.textContent = "No camera available: type the ID instead.";
        return;
      }
      video.srcObject = stream;
      video.hidden = false;
      await video.play().catch(() => {});
      // @ts-ignore BarcodeDetector is not in every DOM lib yet
      const detector = new window.BarcodeDetector();
      status.textContent = "Hold the barcode of your card in front of the camera…";
      const tick = setInterval(async () => {
        try {
          const codes = await detector.detect(video);
          if (codes.length) {
            clearInterval(tick);
            stream.getTracks().forEach((t) => t.stop());
            video.hidden = true;
            status.textContent = "Card read.";
            try { await submit(codes[0].rawValue); } catch (err) { showErrors(form, err); }
          }
        } catch { /* frame not ready */ }
      }, 400);
      timers.push(tick);
    } }, "Scan the barcode with the camera")
    : null;
  render(h("h1", null, "Your USC card"),
    h("p.muted.lead-note", null, signedIn
      ? "Register your student card with your account."
      : "Students sign up with their USC card instead of an invite code."),
    scanButton ? h("div.card.stack", null, scanButton, video, status) : null,
    form,
    h("p.center", null, h("a", { href: signedIn ? "#/me" : "#/welcome" }, "Back")));
  const stop = () => { if (stream) stream.getTracks().forEach((t) => t.stop()); window.removeEventListener("hashchange", stop); };
  window.addEventListener("hashchange", stop);
}

function deviceId() {
  let id = localStorage.getItem("campus.device");
  if (!id) {
    id = (crypto.randomUUID && crypto.randomUUID()) || String(Math.random()).slice(2);
    localStorage.setItem("campus.device", id);
  }
  return id;
}

/** The selfie step (camera or file); also used from "Me". */
function renderPhoto() {
  const fromMe = location.hash.includes("from=me");
  const preview = h("video.selfie", { muted: true, playsinline: true, autoplay: true, "aria-label": "Camera preview" });
  const shot = h("img.selfie", { alt: "Your photo", hidden: true });
  const status = h("p.muted", { "aria-live": "polite" });
  /** @type {Blob|null} */ let blob = null;
  let stream = /** @type {MediaStream|null} */ (null);
  const stop = () => { if (stream) stream.getTracks().forEach((t) => t.stop()); stream = null; };
  const save = h("button.primary", { type: "button", disabled: true, onclick: async () => {
    save.disabled = true;
    try {
      state.me = await api.uploadPhoto(blob, "selfie.jpg");
      stop();
      toast("Photo saved.", "ok");
      go(fromMe ? "me" : "video");
    } catch (err) {
      status.textContent = err.message;
      save.disabled = false;
    }
  } }, "Use this photo");
  const take = h("button.secondary", { type: "button", onclick: () => {
    if (!stream) return;
    const canvas = document.createElement("canvas");
    const w = preview.videoWidth || 640, hgt = preview.videoHeight || 480, side = Math.min(w, hgt);
    canvas.width = canvas.height = Math.min(side, 720);
    canvas.getContext("2d").drawImage(preview, (w - side) / 2, (hgt - side) / 2, side, side, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((b) => {
      blob = b;
      shot.src = URL.createObjectURL(b);
      shot.hidden = false;
      preview.hidden = true;
      save.disabled = false;
    }, "image/jpeg", 0.9);
  } }, "Take photo");
  const file = h("input", { type: "file", accept: "image/jpeg,image/png,image/webp", "aria-label": "Choose a photo file",
    onchange: () => {
      const f = file.files && file.files[0];
      if (!f) return;
      blob = f;
      shot.src = URL.createObjectURL(f);
      shot.hidden = false;
      preview.hidden = true;
      save.disabled = false;
    } });
  render(
    h("h1", null, "Add a photo"),
    h("p.muted", null, "People see it on your card in the list. A clear face gets more calls."),
    h("div.card.stack.center", null, h("div.selfie-frame", null, preview, shot), status,
      h("div.row", null, take, h("label.file-button", null, "Choose a file…", file)), save),
    h("p.center", null, h("a", { href: fromMe ? "#/me" : "#/video", onclick: stop }, fromMe ? "Back" : "Skip for now")),
  );
  navigator.mediaDevices?.getUserMedia({ video: { facingMode: "user", width: 640, height: 640 } }).then((s) => {
    if (route() !== "photo") { s.getTracks().forEach((t) => t.stop()); return; }
    stream = s;
    preview.srcObject = s;
  }, () => { preview.hidden = true; take.disabled = true; status.textContent = "No camera: choose a file instead."; });
  window.addEventListener("hashchange", stop, { once: true });
}

/** The optional intro video: record a few seconds or choose a file. */
function renderIntroVideo() {
  const fromMe = location.hash.includes("from=me");
  const preview = h("video.selfie", { muted: true, playsinline: true, autoplay: true, "aria-label": "Camera preview" });
  const status = h("p.muted", { "aria-live": "polite" });
  let stream = /** @type {MediaStream|null} */ (null);
  /** @type {Blob|null} */ let blob = null;
  const stop = () => { if (stream) stream.getTracks().forEach((t) => t.stop()); stream = null; };
  const save = h("button.primary", { type: "button", disabled: true, onclick: async () => {
    save.disabled = true;
    try {
      state.me = await api.uploadVideo(blob, blob.type.includes("mp4") ? "intro.mp4" : "intro.webm");
      stop();
      toast("Intro video saved.", "ok");
      go(fromMe ? "me" : "queue");
    } catch (err) {
      status.textContent = err.message;
      save.disabled = false;
    }
  } }, "Use this video");
  const record = h("button.secondary", { type: "button", onclick: () => {
    if (!stream || typeof MediaRecorder === "undefined") return;
    const chunks = [];
    const rec = new MediaRecorder(stream, { mimeType: MediaRecorder.isTypeSupported("video/webm") ? "video/webm" : "" });
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    rec.onstop = () => {
      blob = new Blob(chunks, { type: "video/webm" });
      preview.srcObject = null;
      preview.src = URL.createObjectURL(blob);
      preview.muted = false;
      preview.controls = true;
      save.disabled = false;
      status.textContent = "Recorded. Watch it, then save — or record again.";
    };
    rec.start();
    record.disabled = true;
    let left = 8;
    status.textContent = `Recording… ${left}s`;
    const t = setInterval(() => {
      left -= 1;
      status.textContent = `Recording… ${left}s`;
      if (left <= 0) { clearInterval(t); rec.stop(); record.disabled = false; }
    }, 1000);
    timers.push(t);
  } }, "Record 8 seconds");
  const file = h("input", { type: "file", accept: "video/mp4,video/webm", "aria-label": "Choose a video file",
    onchange: () => {
      const f = file.files && file.files[0];
      if (!f) return;
      blob = f;
      preview.srcObject = null;
      preview.src = URL.createObjectURL(f);
      save.disabled = false;
    } });
  render(
    h("h1", null, "Say hi in a short video"),
    h("p.muted", null, "Optional. It plays on your card so people know who they're calling."),
    h("div.card.stack.center", null, h("div.selfie-frame", null, preview), status,
      h("div.row", null, record, h("label.file-button", null, "Choose a file…", file)), save),
    h("p.center", null, h("a", { href: fromMe ? "#/me" : "#/queue", onclick: stop }, fromMe ? "Back" : "Skip for now")),
  );
  navigator.mediaDevices?.getUserMedia({ video: true, audio: true }).then((s) => {
    if (route() !== "video") { s.getTracks().forEach((t) => t.stop()); return; }
    stream = s;
    preview.srcObject = s;
  }, () => { record.disabled = true; status.textContent = "No camera: choose a file instead."; });
  window.addEventListener("hashchange", stop, { once: true });
}

// ---------------------------------------------------------------------------------------------
// The realtime session
// ---------------------------------------------------------------------------------------------
function startSession() {
  if (state.session) state.session.close();
  const s = new Session({ token: api.token });
  state.session = s;
  s.wantAvailable = sessionStorage.getItem(AVAILABLE_KEY) === "1";
  s.on("state", updateBanner);
  s.on("ready", () => {
    updateBanner();
    if (route() === "queue") refreshQueue();
    if (!state.me) {
      // the page was opened while the server was down: the profile (and the nav) come now
      api.me().then((me) => { state.me = me; if (route() !== "room") renderRoute(); else document.getElementById("nav").hidden = true; }, () => {});
    }
  });
  s.on("signed_out", () => { if (!state.leaving) signOut("You were signed out. Sign in again."); });
  s.on("banned", () => showBan());
  s.on("room", (/** @type {any} */ e) => onRoom(e));
  s.on("room.ended", (/** @type {any} */ e) => onRoomEnded(e));
  s.on("transcript", () => renderChat());
  s.on("outbox", () => renderChat());
  s.on("outbox.failed", (/** @type {any} */ e) => toast(`Not sent: ${e.error.message}`, "error"));
  s.on("room.typing", (/** @type {any} */ m) => setPeerTyping(m.typing));
  s.on("room.inactivity_warning", (/** @type {any} */ m) => { state.torch[m.user] = m; renderTorch(); });
  s.on("room.inactivity_cleared", (/** @type {any} */ m) => { delete state.torch[m.user]; renderTorch(); });
  // the countdown runs from when the invite arrived (not from the server's clock, which may differ)
  s.on("invite.received", (/** @type {any} */ m) => { state.incoming = { ...m.invite, _at: Date.now() }; renderInviteDialog(); });
  s.on("invite.sent", (/** @type {any} */ m) => { state.outgoing = { ...m.invite, _at: Date.now() }; renderInviteDialog(); });
  s.on("invite.declined", (/** @type {any} */ m) => inviteOutcome(m.invite_id, "declined"));
  s.on("invite.cancelled", (/** @type {any} */ m) => inviteOutcome(m.invite_id, "cancelled"));
  s.on("invite.expired", (/** @type {any} */ m) => inviteOutcome(m.invite_id, "expired"));
  s.on("invite.failed", (/** @type {any} */ m) => inviteOutcome(m.invite_id, "failed", m.message));
  s.on("error", (/** @type {any} */ m) => {
    if (m.handled) return;
    if (m.code === "cooldown" && m.cooldown_until) toast(`You two talked recently. Try again after ${fmtTime(m.cooldown_until)}.`, "error");
    else if (m.code === "rate_limited") toast(`${m.message} Try again in ${m.retry_after || 1} s.`, "error");
    else toast(m.message || m.code, "error");
  });
  s.connect();
  if (state.me) document.getElementById("nav").hidden = false;
  refreshUnread();
}

// back online / back on screen: try at once instead of waiting out the reconnect delay
window.addEventListener("online", () => state.session?.reconnectNow());
document.addEventListener("visibilitychange", () => { if (!document.hidden) state.session?.reconnectNow(); });

function updateBanner() {
  const s = state.session;
  let text = "";
  let kind = "warn";
  if (s && s.state === "reconnecting") text = s.room ? "Reconnecting… your call continues as soon as you're back." : "Reconnecting…";
  else if (s && s.state === "connecting") text = "";
  else if (s && s.room && s.room.status === "grace" && !s.room.peer_connected) {
    const left = s.room.grace_deadline ? Math.max(0, Math.round((Date.parse(s.room.grace_deadline) - Date.now()) / 1000)) : 0;
    text = `${s.room.peer.name} lost their connection. Waiting for them to come back${left ? ` (${left} s)` : ""}…`;
    kind = "info";
  }
  banner.textContent = text;
  banner.className = "banner " + kind;
  banner.hidden = !text;
  document.body.classList.toggle("offline", !!s && s.state === "reconnecting");
}
setInterval(updateBanner, 1000);

/** @param {string} [message] */
function signOut(message) {
  if (state.session) state.session.close();
  state.session = null;
  stopMedia();
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(AVAILABLE_KEY);
  api.token = null;
  state.me = null;
  state.leaving = false;
  if (message) toast(message, "info");
  go("welcome");
}

async function showBan() {
  go("banned");
}

function renderBanned() {
  const box = h("div.card.stack", null, h("p", null, "Your account is suspended."));
  render(h("h1", null, "You can't use Campus Chat right now"), box);
  if (!api.token) return;
  api.myBan().then((b) => {
    if (!b.banned) { box.replaceChildren(h("p", null, "Your suspension has ended."), h("a.button.primary", { href: "#/queue", onclick: () => startSession() }, "Continue")); return; }
    box.replaceChildren(
      h("p", null, b.permanent ? "Your account has been banned permanently." : `Your account is suspended until ${fmtTime(b.until)}.`),
      b.reason ? h("p", null, h("strong", null, "Reason: "), b.reason) : null,
      h("p.muted", null, "If you think this is a mistake, contact campus support."),
    );
  }, () => {});
}

async function refreshUnread() {
  try {
    const n = await api.notifications({ unread: true });
    const badge = document.getElementById("nav-unread");
    badge.textContent = String(n.unread_count);
    badge.hidden = !n.unread_count;
    badge.setAttribute("aria-label", `${n.unread_count} unread notifications`);
  } catch { /* offline: try later */ }
}

// ---------------------------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------------------------
function renderQueue() {
  const s = state.session;
  const toggle = h("input", { type: "checkbox", role: "switch", id: "available", checked: !!(s && s.wantAvailable),
    onchange: async () => {
      sessionStorage.setItem(AVAILABLE_KEY, toggle.checked ? "1" : "0");
      try {
        await s.setAvailable(toggle.checked);
        toast(toggle.checked ? "You're visible to others now." : "You're hidden from the list.", "ok");
      } catch (err) { toast(err.message, "error"); }
      statusLine.textContent = availabilityText();
    } });
  const statusLine = h("p.muted#availability-text", null, availabilityText());
  const lengths = [60, 120, 300, 600].filter((x) => x >= CONFIG.call_min_seconds && x <= CONFIG.call_max_seconds);
  const length = h("select#call-length", { onchange: () => { state.seconds = Number(length.value); } },
    lengths.map((x) => h("option", { value: x, selected: x === state.seconds }, `${x / 60} min`)));
  render(
    h("div.queue-head", null,
      h("h1", null, "People around"),
      h("div.controls", null,
        h("label.switch", { for: "available" }, toggle, h("span.slider", { "aria-hidden": "true" }), h("span", null, "Available for calls")),
        h("label.inline", null, "Call length ", length),
      ),
    ),
    h("div.row.between", null, statusLine, locationButton()),
    h("div#queue.grid", { "aria-live": "polite" }, queueCards()),
  );
  refreshQueue();
  timers.push(setInterval(refreshQueue, 4000));
}

/** Opt-in: share an approximate location so cards show how far people are (never coordinates). */
function locationButton() {
  if (!navigator.geolocation) return null;
  const button = h("button.link#share-location", { type: "button", "aria-pressed": "false" }, "Show distances");
  const set = (/** @type {boolean} */ on) => {
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Stop sharing my area" : "Show distances";
  };
  api.myLocation().then((loc) => set(!!loc), () => {});
  button.addEventListener("click", () => {
    if (button.getAttribute("aria-pressed") === "true") {
      api.stopSharingLocation().then(() => { set(false); toast("Your location is deleted.", "ok"); refreshQueue(); }, (e) => toast(e.message, "error"));
      return;
    }
    if (!confirm("Share your approximate area (about 500 m) for 24 hours? Others only see a distance like “1–5 km”.")) return;
    navigator.geolocation.getCurrentPosition(
      (pos) => api.shareLocation(pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy).then(
        () => { set(true); toast("Distances are shown for people who share theirs too.", "ok"); refreshQueue(); },
        (e) => toast(e.message, "error")),
      () => toast("The browser didn't give a location.", "error"),
      { maximumAge: 600000, timeout: 15000 },
    );
  });
  return button;
}

function availabilityText() {
  const s = state.session;
  return s && s.wantAvailable ? "Others can see you and call you." : "You're hidden. Switch on “Available” so others can call you too.";
}

async function refreshQueue() {
  const s = state.session;
  if (!s || s.state !== "open" || route() !== "queue") return;
  try {
    const page = await s.queue({ limit: 50 });
    state.queue = page.results;
    const grid = document.getElementById("queue");
    if (grid) grid.replaceChildren(...queueCards());
  } catch { /* reconnecting */ }
}

function queueCards() {
  if (!state.queue.length) {
    return [h("div.empty", null, h("p", null, "Nobody is available right now."),
      h("p.muted", null, "Open this page in another window (or ask a friend) and switch on “Available”."))];
  }
  return state.queue.map((u) => h("article.person", { "data-user": u.id, "aria-label": u.name },
    h("div.person-media", null,
      u.intro_video_url ? h("video", { src: u.intro_video_url, muted: true, loop: true, playsinline: true, preload: "metadata",
        poster: u.photo_url || undefined, "aria-label": `${u.name}'s intro video`,
        onmouseenter: (e) => e.target.play().catch(() => {}), onmouseleave: (e) => e.target.pause() }) : avatar(u, "big")),
    h("div.person-body", null,
      h("h2", null, u.name),
      u.bio ? h("p.bio", null, u.bio) : h("p.bio.muted", null, "No bio yet."),
      u.instagram_handle ? h("p.muted.small", null, "@" + u.instagram_handle) : null,
      u.distance ? h("p.small.distance", null, u.distance === "far" ? "Far away" : `${u.distance} away`) : null,
      u.cooldown_until ? h("p.muted.small", null, `Talked recently — again after ${fmtTime(u.cooldown_until)}`) : null,
    ),
    h("div.person-actions", null,
      h("button.primary.invite-video", { type: "button", onclick: () => sendInvite(u, "video") }, "Video call"),
      h("button.secondary.invite-text", { type: "button", onclick: () => sendInvite(u, "text") }, "Text chat"),
      h("div.row.small-actions", null,
        h("button.link", { type: "button", onclick: () => skip(u) }, "Skip"),
        h("button.link", { type: "button", onclick: () => blockUser(u) }, "Block"),
        h("button.link.danger", { type: "button", onclick: () => reportDialog(u) }, "Report"),
      ),
    ),
  ));
}

/** @param {any} u @param {"video"|"text"} mode */
function sendInvite(u, mode) {
  if (!state.session || state.session.state !== "open") {
    state.session?.reconnectNow();
    return toast("Not connected yet: trying again now.", "error");
  }
  state.session.invite(u.id, mode, state.seconds);
}

/** @param {any} u */
async function skip(u) {
  try {
    await state.session.skip(u.id);
    state.queue = state.queue.filter((x) => x.id !== u.id);
    document.getElementById("queue")?.replaceChildren(...queueCards());
  } catch (err) { toast(err.message, "error"); }
}

/** @param {any} u */
async function blockUser(u) {
  if (!confirm(`Block ${u.name}? You won't see each other any more.`)) return;
  try {
    await api.block(u.id);
    state.queue = state.queue.filter((x) => x.id !== u.id);
    document.getElementById("queue")?.replaceChildren(...queueCards());
    toast(`${u.name} is blocked.`, "ok");
  } catch (err) { toast(err.message, "error"); }
}

/** @param {any} u @param {string|null} [roomId] */
function reportDialog(u, roomId = null) {
  const cats = [["harassment", "Harassment"], ["nudity", "Nudity / sexual content"], ["spam", "Spam / scam"],
    ["underage", "Underage"], ["hate", "Hate"], ["violence", "Violence"], ["other", "Other"]];
  const form = h("form.stack", { method: "dialog" },
    h("h2", null, `Report ${u.name}`),
    field("What happened?", h("select", { name: "category" }, cats.map(([v, t]) => h("option", { value: v }, t)))),
    field("Details", h("textarea", { name: "details", maxlength: 1000, rows: 3 }), "Required for “Other”."),
    h("label.check", null, h("input", { type: "checkbox", name: "block", checked: true }), " Also block them"),
    h("div.row.end", null, h("button.secondary", { type: "button", onclick: () => dlg.close() }, "Cancel"),
      h("button.danger-fill", { type: "submit" }, "Send report")),
  );
  const dlg = modal(form);
  onSubmit(form, async (data) => {
    await api.report({ reported_user_id: u.id, category: data.category, details: data.details || "", room_id: roomId });
    if (data.block) await api.block(u.id).catch(() => {});
    dlg.close();
    toast("Thanks — a moderator will look at it.", "ok");
    state.queue = state.queue.filter((x) => x.id !== u.id);
    document.getElementById("queue")?.replaceChildren(...queueCards());
  });
}

/** @param {HTMLElement} content @returns {HTMLDialogElement} */
function modal(content, { dismissable = true, className = "" } = {}) {
  const dlg = /** @type {HTMLDialogElement} */ (h("dialog.modal", { class: className }, content));
  document.getElementById("dialog-root").append(dlg);
  dlg.addEventListener("close", () => dlg.remove());
  if (!dismissable) dlg.addEventListener("cancel", (e) => e.preventDefault());
  dlg.showModal();
  return dlg;
}

// ---------------------------------------------------------------------------------------------
// Call invites: a visible 20 s countdown, every outcome shown
// ---------------------------------------------------------------------------------------------
/** @type {HTMLDialogElement|null} */ let inviteDlg = null;

function renderInviteDialog() {
  if (inviteDlg) { inviteDlg.close(); inviteDlg = null; }
  const inv = state.incoming || state.outgoing;
  if (!inv) return;
  const incoming = inv === state.incoming;
  const who = incoming ? inv.from : inv.to;
  const ttl = CONFIG.invite_ttl_seconds;
  const started = inv._at || Date.now();
  const count = h("span.countdown-num", null, String(Math.round(ttl)));
  const bar = h("progress.countdown", { max: ttl, value: ttl, "aria-label": "Seconds left to answer" });
  const what = `${inv.mode === "video" ? "video call" : "text chat"} · ${Math.round(inv.seconds / 60)} min`;
  const What = what.charAt(0).toUpperCase() + what.slice(1);
  const body = h("div.stack.center.invite", { "data-invite": inv.id },
    avatar(who, "big"),
    h("h2", null, incoming ? `${who.name} wants a ${what}` : `Calling ${who.name}…`),
    h("p.muted", null, incoming ? "Answer before the time runs out." : `${What}. Waiting for an answer.`),
    bar, h("p.muted.small", { "aria-live": "off" }, count, " s left"),
    incoming
      ? h("div.row.center", null,
        h("button.secondary#decline", { type: "button", onclick: () => { state.session.decline(inv.id); } }, "Decline"),
        h("button.primary#accept", { type: "button", onclick: (e) => { e.target.disabled = true; state.session.accept(inv.id); } }, "Accept"))
      : h("div.row.center", null, h("button.secondary#cancel-invite", { type: "button", onclick: () => state.session.cancel(inv.id) }, "Cancel")),
  );
  inviteDlg = modal(body, { dismissable: false, className: "invite-dialog" });
  const tick = setInterval(() => {
    const left = Math.max(0, ttl - (Date.now() - started) / 1000);
    bar.value = left;
    count.textContent = String(Math.ceil(left));
    if (left <= 0) clearInterval(tick);
  }, 200);
  inviteDlg.addEventListener("close", () => clearInterval(tick));
}

/** @param {string} id @param {string} outcome @param {string} [message] */
function inviteOutcome(id, outcome, message) {
  const inc = state.incoming && state.incoming.id === id ? state.incoming : null;
  const out = state.outgoing && state.outgoing.id === id ? state.outgoing : null;
  if (!inc && !out) return;
  const who = inc ? inc.from.name : out.to.name;
  const texts = {
    declined: inc ? "Invite declined." : `${who} declined your invite.`,
    cancelled: inc ? `${who} cancelled the invite.` : "Invite cancelled.",
    expired: inc ? `You missed ${who}'s invite.` : `${who} didn't answer in time.`,
    failed: `The call with ${who} couldn't start${message ? ": " + message : "."}`,
  };
  if (inc) state.incoming = null;
  if (out) state.outgoing = null;
  renderInviteDialog();
  toast(texts[/** @type {keyof typeof texts} */ (outcome)] || outcome, outcome === "failed" ? "error" : "info");
}

// ---------------------------------------------------------------------------------------------
// Rooms
// ---------------------------------------------------------------------------------------------
/** @param {{room: any, reason: string}} e */
async function onRoom(e) {
  state.incoming = null;
  state.outgoing = null;
  renderInviteDialog();
  if (e.reason === "started") state.torch = {};
  state.ended = null;
  if (e.room.mode === "video" && !state.call) startVideo();
  // (what is on screen, not the hash: a page reloaded on #/room showed the list until the room came back)
  if (document.body.dataset.route !== "room") go("room");
  else updateRoomHeader();
  updateBanner();
}

function startVideo() {
  if (state.call) return;
  const media = navigator.mediaDevices
    ? navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true }).catch(() => null)
    : Promise.resolve(null);
  // created at once (signaling from the peer may arrive while the camera permission is pending)
  const call = new VideoCall({ session: state.session, api, localStream: media });
  state.call = call;
  media.then((stream) => {
    if (state.call !== call) { if (stream) stream.getTracks().forEach((t) => t.stop()); return; }
    state.localStream = stream;
    if (!stream) toast("No camera or microphone: you can still see and hear them.", "error");
    call.setMicrophone(state.mic);
    call.setCamera(state.cam);
    const local = document.getElementById("local-video");
    if (local) local.srcObject = stream;
  });
  call.on("remote", (/** @type {MediaStream} */ stream) => {
    state.remoteStream = stream;
    const v = document.getElementById("remote-video");
    if (v) v.srcObject = stream;
  });
  call.on("state", (/** @type {string} */ st) => {
    const el = document.getElementById("rtc-state");
    if (el) el.textContent = st === "connected" ? "" : st === "failed" ? "Connection failed, retrying…" : "Connecting video…";
  });
  call.negotiate("start");
}

function stopMedia() {
  if (state.call) state.call.stop();
  state.call = null;
  if (state.localStream) state.localStream.getTracks().forEach((t) => t.stop());
  state.localStream = null;
  state.remoteStream = null;
}

/** @param {any} e */
function onRoomEnded(e) {
  stopMedia();
  state.torch = {};
  state.peerTyping = false;
  state.ended = e;
  go("ended");
}

function renderRoom() {
  const s = state.session;
  const room = s.room;
  const timer = h("span#timer.timer", { role: "timer", "aria-label": "Time left" }, fmtDuration(s.remainingSeconds()));
  const header = h("div.room-head", null,
    avatar(room.peer),
    h("div.grow", null, h("h1.room-title", null, room.peer.name), h("p.muted.small#room-sub", null, roomSub())),
    timer,
    h("button.danger-fill#end-call", { type: "button", onclick: () => { if (confirm("End the call for both of you?")) s.endRoom(); } }, "End call"),
  );
  const chat = chatPanel();
  if (room.mode === "video") {
    const remote = h("video#remote-video", { autoplay: true, playsinline: true, "aria-label": `${room.peer.name}'s video` });
    const local = h("video#local-video", { autoplay: true, playsinline: true, muted: true, "aria-label": "Your video" });
    if (state.remoteStream) remote.srcObject = state.remoteStream;
    if (state.localStream) local.srcObject = state.localStream;
    const mic = h("button.round#toggle-mic", { type: "button", "aria-pressed": String(!state.mic), onclick: () => {
      state.mic = !state.mic;
      state.call?.setMicrophone?.(state.mic);
      mic.setAttribute("aria-pressed", String(!state.mic));
      mic.textContent = state.mic ? "Mute" : "Unmute";
    } }, state.mic ? "Mute" : "Unmute");
    const cam = h("button.round#toggle-cam", { type: "button", "aria-pressed": String(!state.cam), onclick: () => {
      state.cam = !state.cam;
      state.call?.setCamera?.(state.cam);
      cam.setAttribute("aria-pressed", String(!state.cam));
      cam.textContent = state.cam ? "Camera off" : "Camera on";
    } }, state.cam ? "Camera off" : "Camera on");
    render(h("section.room.video-room", { "data-room": room.id },
      header,
      h("div.room-body", null,
        h("div.stage", null, remote, local, h("p#rtc-state.rtc-state", { "aria-live": "polite" }, "Connecting video…"),
          h("div.call-controls", null, mic, cam)),
        chat),
    ));
  } else {
    render(h("section.room.text-room", { "data-room": room.id }, header, h("div#torch"), chat));
    renderTorch();
  }
  renderChat();
  timers.push(setInterval(() => {
    const t = document.getElementById("timer");
    if (t && state.session && state.session.room) t.textContent = fmtDuration(state.session.remainingSeconds());
    renderTorch();
  }, 500));
  chat.querySelector("textarea, input").focus({ preventScroll: true });
}

function roomSub() {
  const room = state.session && state.session.room;
  if (!room) return "";
  return `${room.mode === "video" ? "Video call" : "Text chat"} · ${Math.round(room.duration_seconds / 60)} min`;
}

function updateRoomHeader() {
  const sub = document.getElementById("room-sub");
  if (sub) sub.textContent = roomSub();
}

function chatPanel() {
  let typingSent = false;
  let typingTimer = 0;
  const input = h("textarea#chat-input", { rows: 1, maxlength: 2000, placeholder: "Write a message…", "aria-label": "Message",
    oninput: () => {
      if (!typingSent) { state.session.typing(true); typingSent = true; }
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { state.session.typing(false); typingSent = false; }, 3000);
    },
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } },
  });
  const form = h("form.chat-form", { onsubmit: (e) => {
    e.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    state.session.sendMessage(body);
    input.value = "";
    clearTimeout(typingTimer);
    if (typingSent) { state.session.typing(false); typingSent = false; }
  } }, input, h("button.primary#chat-send", { type: "submit" }, "Send"));
  return h("div.chat", null,
    h("ol#messages.messages", { "aria-live": "polite", "aria-label": "Conversation" }),
    h("p#typing.typing", { "aria-live": "polite" }),
    form,
  );
}

function renderChat() {
  const list = document.getElementById("messages");
  const s = state.session;
  if (!list || !s) return;
  const me = s.user && s.user.id;
  const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const items = s.transcript.messages.map((m) => h("li.msg", { class: m.sender === me ? "mine" : "theirs", "data-id": m.id, "data-seq": m.seq },
    h("span.body", null, m.body), h("time.small", { datetime: m.created_at }, new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }))));
  for (const p of s.outbox.pending()) {
    if (s.transcript.hasClientId(p.client_id)) continue;
    items.push(h("li.msg.mine.pending", { "data-client-id": p.client_id }, h("span.body", null, p.body), h("span.small", null, "sending…")));
  }
  if (!items.length) items.push(h("li.muted.small.center.empty-chat", null, s.room && s.room.mode === "video" ? "Side chat: messages stay in your history." : "Say hi! Messages are kept in your history."));
  list.replaceChildren(...items);
  if (stick) list.scrollTop = list.scrollHeight;
  const typing = document.getElementById("typing");
  if (typing) typing.textContent = state.peerTyping && s.room ? `${s.room.peer.name} is typing…` : "";
}

let peerTypingTimer = 0;
/** @param {boolean} typing */
function setPeerTyping(typing) {
  state.peerTyping = typing;
  clearTimeout(peerTypingTimer);
  if (typing) peerTypingTimer = setTimeout(() => setPeerTyping(false), 6000);
  renderChat();
}

function renderTorch() {
  const box = document.getElementById("torch");
  if (!box) return;
  const s = state.session;
  // yours first: it is the one you can do something about
  const warnings = Object.values(state.torch).sort((a, b) => Number(b.you) - Number(a.you));
  const key = warnings.map((t) => `${t.user}@${t.deadline}`).join(",");
  if (box.dataset.key !== key) {
    // rebuilt only when the warnings change (an alert re-inserted every tick would be re-announced)
    box.dataset.key = key;
    box.replaceChildren(...warnings.map((t) => h("div.torch", { role: t.you ? "alert" : "status", "data-you": String(!!t.you) },
      h("span.torch-icon", { "aria-hidden": "true" }, "!"),
      h("span", null, t.you ? "You've been quiet for a while. Send a message within " : `${s && s.room ? s.room.peer.name : "Your partner"} has been quiet. The chat ends in `,
        h("span.torch-left", { "aria-live": "off", "data-deadline": t.deadline }), " s",
        t.you ? " or the chat ends." : " unless they write."))));
  }
  for (const el of box.querySelectorAll(".torch-left")) {
    el.textContent = String(Math.max(0, Math.round((Date.parse(el.dataset.deadline) - Date.now()) / 1000)));
  }
}

function renderEnded() {
  const e = state.ended;
  if (!e) return go("queue");
  const peer = e.room ? e.room.peer : null;
  const reasons = {
    user: e.ended_by_you ? "You ended the call." : `${peer ? peer.name : "Your partner"} ended the call.`,
    timer: "Time's up.", disconnect: "The connection was lost for too long.", inactivity: "The chat ended after a long silence.",
    ban: "The call was ended by a moderator.", account_deleted: "The other account was deleted.",
  };
  const why = e.while_away ? "The call ended while you were offline." : reasons[/** @type {keyof typeof reasons} */ (e.reason)] || "The call ended.";
  render(
    h("h1", null, "Call ended"),
    h("div.card.stack.center", null,
      peer ? avatar(peer, "big") : null,
      h("p.lead", null, why),
      e.duration_seconds !== undefined ? h("p.muted", null, `You talked for ${fmtDuration(e.duration_seconds)}.`) : null,
      e.cooldown_until && Date.parse(e.cooldown_until) > Date.now() + 60_000
        ? h("p.muted.small", null, `You can call each other again after ${fmtTime(e.cooldown_until)}.`) : null,
      h("div.row.center", null,
        h("a.button.primary", { href: "#/queue", onclick: () => { state.ended = null; } }, "Back to people"),
        h("a.button.secondary", { href: "#/history", onclick: () => { state.ended = null; } }, "History"),
        peer ? h("button.link.danger", { type: "button", onclick: () => reportDialog(peer, e.room_id) }, "Report") : null),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// History (with transcripts)
// ---------------------------------------------------------------------------------------------
async function renderHistory() {
  const list = h("ol#history.history", null, h("li.muted", null, "Loading…"));
  const more = h("button.secondary", { type: "button", hidden: true }, "Older calls");
  render(h("h1", null, "Your calls"), list, h("p.center", null, more));
  /** @param {string} [cursorUrl] */
  const load = async (cursorUrl) => {
    const cursor = cursorUrl ? new URL(cursorUrl).searchParams.get("cursor") : undefined;
    const page = await api.history({ cursor });
    if (!cursorUrl) list.replaceChildren();
    if (!page.results.length && !cursorUrl) list.append(h("li.empty", null, "No calls yet. Say hi to someone!"));
    for (const c of page.results) list.append(historyItem(c));
    more.hidden = !page.next;
    more.onclick = () => load(page.next);
  };
  try { await load(); } catch (err) { list.replaceChildren(h("li.form-error", null, err.message)); }
}

/** @param {any} c */
function historyItem(c) {
  const reasons = { user: "ended", timer: "time's up", disconnect: "connection lost", inactivity: "silence", ban: "moderated", account_deleted: "account deleted" };
  const transcript = h("ol.transcript", { hidden: true });
  const toggle = h("button.link", { type: "button", "aria-expanded": "false", onclick: async () => {
    const open = transcript.hidden;
    transcript.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide messages" : "Messages";
    if (open && !transcript.childElementCount) {
      try {
        const page = await api.transcript(c.id, { page_size: 200 });
        if (!page.results.length) transcript.append(h("li.muted.small", null, "No messages."));
        for (const m of page.results) {
          transcript.append(h("li.msg", { class: m.from_you ? "mine" : "theirs" },
            h("span.body", null, m.purged ? "(deleted after 30 days)" : m.body)));
        }
      } catch (err) { transcript.append(h("li.form-error", null, err.message)); }
    }
  } }, "Messages");
  return h("li.history-item", { "data-room": c.room_id },
    avatar(c.partner),
    h("div.grow", null,
      h("p.strong", null, c.partner.name),
      h("p.muted.small", null, `${c.mode === "video" ? "Video" : "Text"} · ${fmtDuration(c.duration_seconds)} · ${reasons[c.end_reason] || c.end_reason} · ${fmtTime(c.started_at)}`),
      transcript),
    h("div.row", null, toggle, h("button.link.danger", { type: "button", onclick: () => reportDialog(c.partner, c.room_id) }, "Report")),
  );
}

// ---------------------------------------------------------------------------------------------
// Me: profile, account, invite code, intros, notifications, cooldowns, blocks, devices, data
// ---------------------------------------------------------------------------------------------
async function renderMe() {
  try { state.me = await api.me(); } catch (err) { if (err.status === 401) return signOut("Please sign in again."); }
  const me = state.me;
  const sections = [
    profileSection(me), accountSection(me), inviteSection(), introSection(), notificationsSection(),
    cooldownSection(), blocksSection(), devicesSection(), dataSection(me),
  ];
  render(h("div.me-head", null, avatar(me, "big"), h("div", null, h("h1", null, me.name),
    h("p.muted", null, `${me.account_type === "guest" ? "Guest account" : "Permanent account"} · ${fmtDuration(me.timer_total_seconds)} talked`))),
  ...sections);
}

/** @param {string} title @param {...any} children */
function section(title, ...children) {
  const id = "sec-" + title.toLowerCase().replace(/[^a-z]+/g, "-");
  return h("section.card.stack", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** @param {any} me */
function profileSection(me) {
  const form = h("form.stack", null,
    field("Name", h("input", { name: "name", value: me.name, maxlength: 50, required: true })),
    field("Gender", genderSelect(me.gender)),
    field("Bio", h("textarea", { name: "bio", maxlength: 500, rows: 2 }, me.bio)),
    field("Instagram", h("input", { name: "instagram_handle", value: me.instagram_handle, placeholder: "@handle" })),
    h("div.row", null, h("button.primary", { type: "submit" }, "Save profile"),
      h("a.button.secondary", { href: "#/photo?from=me" }, me.photo_url ? "Change photo" : "Add photo"),
      h("a.button.secondary", { href: "#/video?from=me" }, me.intro_video_url ? "Change intro video" : "Add intro video")),
  );
  onSubmit(form, async (d) => {
    state.me = await api.updateMe({ name: d.name, gender: d.gender, bio: d.bio, instagram_handle: d.instagram_handle });
    toast("Profile saved.", "ok");
  });
  return section("Profile", form);
}

/** @param {any} me */
function accountSection(me) {
  if (me.account_type !== "guest") {
    const pw = h("form.stack", null,
      field("Current password", h("input", { name: "current_password", type: "password", autocomplete: "current-password", required: true })),
      field("New password", h("input", { name: "new_password", type: "password", autocomplete: "new-password", required: true })),
      h("button.secondary", { type: "submit" }, "Change password"));
    onSubmit(pw, async (d) => { await api.changePassword(d.current_password, d.new_password); pw.reset(); toast("Password changed; other devices were signed out.", "ok"); });
    return section("Account", h("p", null, `Signed in as ${me.email}${me.email_verified ? " ✓" : ""}.`), pw,
      h("p", null, h("a", { href: "#/card" }, "Register your USC card")));
  }
  const ask = h("form.stack", null,
    h("p.muted", null, "Guest accounts live on this device only. Add an e-mail and password to keep your history and log in anywhere."),
    field("E-mail", h("input", { name: "email", type: "email", required: true, autocomplete: "email" })),
    field("Password", h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" }), "At least 8 characters."),
    h("button.primary", { type: "submit" }, "Send me a code"));
  const verify = h("form.stack", { hidden: true },
    field("6-digit code from the e-mail", h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: 6 })),
    h("button.primary", { type: "submit" }, "Make my account permanent"));
  onSubmit(ask, async (d) => { await api.makePermanent(d.email, d.password); verify.hidden = false; toast("Check your inbox for the code.", "ok"); });
  onSubmit(verify, async (d) => { state.me = await api.verifyEmail(d.code.trim()); toast("Your account is permanent now.", "ok"); renderRoute(); });
  return section("Keep your account", ask, verify, h("p", null, h("a", { href: "#/card" }, "Register your USC card")));
}

function inviteSection() {
  const box = section("Your invite code", h("p.muted", null, "Loading…"));
  api.myInvite().then(async (inv) => {
    const kids = [h("p", null, h("strong", null, inv.progress), inv.unlocked ? "" : ` — complete ${inv.calls_required} calls to unlock your own invite code.`),
      h("progress", { max: inv.calls_required, value: Math.min(inv.calls_completed, inv.calls_required), "aria-label": "Calls completed" })];
    if (inv.code) {
      const qr = h("img.qr", { alt: `QR code of your join link ${inv.join_link}` });
      try {
        const resp = await api.request("GET", "/api/invites/mine/qr.svg", { raw: true });
        qr.src = URL.createObjectURL(await resp.blob());
      } catch { /* the link is there too */ }
      kids.push(h("p.code", null, inv.code), h("p", null, h("a", { href: inv.join_link }, inv.join_link)),
        h("p.muted.small", null, `${inv.uses_left} of ${inv.max_uses} uses left${inv.is_active ? "" : " · deactivated"}`), qr,
        h("button.secondary", { type: "button", onclick: () => copy(inv.join_link) }, "Copy link"));
    }
    box.replaceChildren(box.firstChild, ...kids);
  }, (err) => box.append(h("p.form-error", null, err.message)));
  return box;
}

function introSection() {
  const select = h("select", { name: "target", "aria-label": "Person to introduce" });
  const out = h("div.stack");
  const form = h("form.stack", null,
    h("p.muted", null, "Think someone you talked to would like a friend of yours? Send your friend an intro link: they sign up and see that person first."),
    h("div.row", null, select, h("button.secondary", { type: "submit" }, "Create intro link")), out);
  onSubmit(form, async (d) => {
    if (!d.target) throw new Error("Talk to someone first: intro links are for people from your history.");
    const r = await api.createReferral(d.target);
    out.replaceChildren(h("p", null, h("a", { href: r.link }, r.link)), h("button.secondary", { type: "button", onclick: () => copy(r.link) }, "Copy link"));
  });
  api.history({ page_size: 50 }).then((page) => {
    const seen = new Set();
    for (const c of page.results) {
      if (seen.has(c.partner.id)) continue;
      seen.add(c.partner.id);
      select.append(h("option", { value: c.partner.id }, c.partner.name));
    }
    if (!seen.size) select.append(h("option", { value: "" }, "Nobody yet"));
  }, () => {});
  return section("Intro links", form);
}

function notificationsSection() {
  const list = h("ul.plain");
  const box = section("Notifications", list);
  api.notifications().then((n) => {
    if (!n.results.length) list.append(h("li.muted", null, "Nothing new."));
    for (const note of n.results) {
      list.append(h("li", { class: note.read ? "muted" : "strong" }, note.text, " ",
        note.read ? null : h("button.link", { type: "button", onclick: async (e) => {
          await api.notificationRead(note.id);
          e.target.closest("li").className = "muted";
          e.target.remove();
          refreshUnread();
        } }, "Mark read")));
    }
    if (n.unread_count) box.append(h("button.secondary", { type: "button", onclick: async () => { await api.notificationsReadAll(); refreshUnread(); renderRoute(); } }, "Mark all read"));
  }, () => {});
  return box;
}

function cooldownSection() {
  const list = h("ul.plain");
  api.cooldowns().then((c) => {
    if (!c.results.length) list.append(h("li.muted", null, "No cooldowns: you can call anyone."));
    for (const x of c.results) list.append(h("li", null, `${x.user.name} — again after ${fmtTime(x.until)}`));
  }, () => {});
  return section("Cooldowns", h("p.muted.small", null, "After a call you two can't call each other for 24 hours."), list);
}

function blocksSection() {
  const list = h("ul.plain");
  api.blocks().then((b) => {
    if (!b.results.length) list.append(h("li.muted", null, "You haven't blocked anyone."));
    for (const x of b.results) {
      list.append(h("li", null, x.user.name, " ", h("button.link", { type: "button", onclick: async (e) => {
        await api.unblock(x.user.id);
        e.target.closest("li").remove();
        if (!list.childElementCount) list.append(h("li.muted", null, "You haven't blocked anyone."));
        toast(`${x.user.name} is unblocked.`, "ok");
      } }, "Unblock")));
    }
  }, () => {});
  return section("Blocked", list);
}

function devicesSection() {
  const list = h("ul.plain");
  const others = h("div.row", { hidden: true }, h("button.secondary", { type: "button", onclick: async () => {
    const r = await api.logoutOthers();
    toast(`Signed out ${r.revoked} other device${r.revoked === 1 ? "" : "s"}.`, "ok");
    load();
  } }, "Sign out everywhere else"));
  const load = () => api.sessions().then((rows) => {
    list.replaceChildren();
    others.hidden = !rows.some((/** @type {any} */ s) => !s.current);
    for (const s of rows) {
      list.append(h("li", null, h("span", null, `${s.device_name || "Unknown device"} · ${s.ip || ""} · last seen ${fmtTime(s.last_seen_at || s.created_at)}`),
        s.current ? h("span.pill", null, "this device") : h("button.link", { type: "button", onclick: async () => { await api.revokeSession(s.id); load(); } }, "Sign out")));
    }
  }, () => {});
  load();
  return section("Devices", list, others);
}

/** @param {any} me */
function dataSection(me) {
  const del = h("form.stack", null,
    me.account_type === "guest" ? null : field("Your password (to delete the account)", h("input", { name: "password", type: "password", autocomplete: "current-password" })),
    h("button.danger-fill", { type: "submit" }, "Delete my account"));
  onSubmit(del, async (d) => {
    if (!confirm("Delete your account and everything in it? This can't be undone.")) return;
    state.leaving = true; // the server closes this device's socket too (4401): no "sign in again"
    try {
      await api.deleteAccount(d.password || "");
    } catch (err) {
      state.leaving = false;
      throw err;
    }
    signOut("Your account was deleted.");
  });
  return section("Your data",
    h("div.row", null,
      h("button.secondary", { type: "button", onclick: async () => {
        const data = await api.exportData();
        const a = h("a", { href: URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" })), download: "my-data.json" });
        document.body.append(a);
        a.click();
        a.remove();
      } }, "Download my data"),
      h("button.secondary", { type: "button", onclick: async () => {
        state.leaving = true;
        await api.logout().catch(() => {});
        signOut("Signed out.");
      } }, "Sign out")),
    del);
}

/** @param {string} text */
async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast("Copied.", "ok"); } catch { prompt("Copy this:", text); }
}

// ---------------------------------------------------------------------------------------------
// Boot
// ---------------------------------------------------------------------------------------------
async function boot() {
  document.getElementById("boot")?.remove();
  if (CONFIG.invite_code || CONFIG.referral_token) {
    // a join / intro link: sign-up with the code or intro filled in (the URL becomes the app's)
    history.replaceState(null, "", "/#/welcome");
  }
  if (api.token) {
    try {
      state.me = await api.me();
      const ban = await api.myBan();
      if (ban.banned) return go("banned");
      startSession();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        api.token = null;
      } else if (err instanceof ApiError && err.code === "banned") {
        return go("banned");
      } else {
        startSession(); // the server is restarting: the session reconnects by itself
      }
    }
  }
  renderRoute();
}
boot();
