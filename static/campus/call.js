// WebRTC for video rooms on top of a Session (docs/REALTIME.md §8, docs/CLIENT.md).  No DOM:
// give it the local MediaStream, listen for "remote" (a MediaStream) and "state".
//
// The offer rule: the participant whose user id (UUID string) sorts lower sends the offer; the
// other answers; both trickle ICE candidates.  Signaling is not stored, so after every
// `room.resumed` (and after `auth.ok` with a room) the offerer renegotiates: an ICE-restart offer on
// the existing connection, or a fresh connection when the old one is gone or refuses it.

/** @typedef {import("./sdk.js").Session} Session */
/** @typedef {import("./sdk.js").Api} Api */

export class VideoCall {
  /**
   * @param {{session: Session, api: Api, localStream: MediaStream|null|Promise<MediaStream|null>,
   *          RTCPeerConnection?: any, answerTimeoutMs?: number}} opts
   *   localStream may be a promise (e.g. getUserMedia still asking): create the VideoCall as soon as
   *   the room starts, so no offer from the peer is missed meanwhile.
   */
  constructor({ session, api, localStream, RTCPeerConnection: PC, answerTimeoutMs = 8000 }) {
    this.session = session;
    this.api = api;
    /** @type {MediaStream|null} */
    this.localStream = null;
    this._local = Promise.resolve(localStream).then((s) => (this.localStream = s || null), () => null);
    this._PC = PC || globalThis.RTCPeerConnection;
    this._answerTimeoutMs = answerTimeoutMs;
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {RTCIceCandidateInit[]} */
    this._pendingCandidates = [];
    this._handlers = new Map();
    this._iceServers = null;
    this._iceFetchedAt = 0;
    this._iceTtlMs = 0;
    this._answerTimer = null;
    this._stopped = false;
    // signaling steps run one at a time, in arrival order (offers, answers and candidates
    // interleave badly otherwise); negotiation requests made while one waits are coalesced
    /** @type {Promise<any>} */
    this._chain = Promise.resolve();
    this._negotiationQueued = false;
    /** @type {string[]} the last signaling steps, newest last (for diagnostics) */
    this.log = [];
    this._unsubs = [
      session.on("room", (/** @type {any} */ e) => {
        if (e.room && e.room.mode === "video" && ["started", "resumed", "auth"].includes(e.reason)) this.negotiate(e.reason);
      }),
      session.on("offer", (/** @type {any} */ m) => this._enqueue(() => this._onOffer(m))),
      session.on("answer", (/** @type {any} */ m) => this._enqueue(() => this._onAnswer(m))),
      session.on("ice-candidate", (/** @type {any} */ m) => this._enqueue(() => this._onCandidate(m))),
      session.on("room.ended", () => this.stop()),
    ];
  }

  /** @param {string} type @param {Function} fn */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type).delete(fn);
  }

  /** @param {string} line */
  _log(line) {
    this.log.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
    if (this.log.length > 100) this.log.shift();
  }

  /** @param {string} type @param {any} data */
  _emit(type, data) { for (const fn of this._handlers.get(type) || []) fn(data); }

  /** Am I the one who sends the offer? */
  get isOfferer() {
    const me = this.session.user && this.session.user.id;
    const peer = this.session.room && this.session.room.peer.id;
    return !!me && !!peer && me < peer;
  }

  async _config() {
    const fresh = this._iceServers && Date.now() - this._iceFetchedAt < this._iceTtlMs * 0.8;
    if (!fresh) {
      try {
        const cfg = await this.api.rtcConfig();
        this._iceServers = cfg.ice_servers || [];
        this._iceTtlMs = (cfg.ttl_seconds || 3600) * 1000;
      } catch {
        this._iceServers = this._iceServers || [];
        this._iceTtlMs = 60000;
      }
      this._iceFetchedAt = Date.now();
    }
    return { iceServers: this._iceServers };
  }

  async _newPc() {
    this._closePc(); // candidates arriving meanwhile wait in _pendingCandidates
    const config = await this._config();
    await this._local;
    const pc = new this._PC(config);
    this._closePc();
    this.pc = pc;
    if (this.localStream) for (const t of this.localStream.getTracks()) pc.addTrack(t, this.localStream);
    else {
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.onicecandidate = (/** @type {any} */ e) => { if (pc === this.pc) this.session.iceCandidate(e.candidate ? e.candidate.toJSON() : null); };
    pc.ontrack = (/** @type {any} */ e) => {
      if (pc !== this.pc) return;
      const stream = e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]);
      this._emit("remote", stream);
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      this._emit("state", pc.connectionState);
      if (pc.connectionState === "failed") this.negotiate("failed");
    };
    return pc;
  }

  _closePc() {
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      try { pc.close(); } catch { /* ignore */ }
    }
  }

  /** @param {() => Promise<any>} fn */
  _enqueue(fn) {
    this._chain = this._chain.then(fn).catch((err) => this._log(`error: ${err}`));
    return this._chain;
  }

  /** (Re)negotiate as the offerer; the answerer just waits for the offer. @param {string} [why] */
  negotiate(why = "") {
    if (this._stopped || !this.isOfferer || this._negotiationQueued) return this._chain;
    this._negotiationQueued = true;
    return this._enqueue(() => {
      this._negotiationQueued = false;
      return this._negotiate(why);
    });
  }

  /** @param {string} why */
  async _negotiate(why) {
    if (this._stopped || !this.session.room || this.session.room.mode !== "video") return;
    this._log(`negotiate (${why}) pc=${this.pc ? this.pc.signalingState + "/" + this.pc.connectionState : "none"}`);
    let pc = this.pc;
    if (pc && pc.signalingState === "have-local-offer" && pc.connectionState !== "failed") {
      // an offer is out and unanswered (perhaps sent while the peer or we were offline): send it
      // again rather than start another one whose answer could cross the first one's
      const sent = this.session.signal("offer", pc.localDescription.sdp);
      this._log(`offer re-sent=${sent}`);
      this._armAnswerTimer();
      return;
    }
    let restart = false;
    this._pendingCandidates = [];
    if (!pc || pc.signalingState !== "stable" || pc.connectionState === "failed") {
      pc = await this._newPc();
    } else {
      restart = true; // keep the connection (media may still flow); new ICE credentials
    }
    try {
      const offer = await pc.createOffer(restart ? { iceRestart: true } : {});
      if (pc !== this.pc) return;
      await pc.setLocalDescription(offer);
      const sent = this.session.signal("offer", pc.localDescription.sdp);
      this._log(`offer (restart=${restart}) sent=${sent}`);
    } catch (err) {
      this._log(`offer failed: ${err}`);
      if (restart) return this._freshOffer();
      throw err;
    }
    this._armAnswerTimer();
  }

  async _freshOffer() {
    this._pendingCandidates = [];
    const pc = await this._newPc();
    const offer = await pc.createOffer();
    if (pc !== this.pc) return;
    await pc.setLocalDescription(offer);
    const sent = this.session.signal("offer", pc.localDescription.sdp);
    this._log(`fresh offer sent=${sent}`);
    this._armAnswerTimer();
  }

  _armAnswerTimer() {
    clearTimeout(this._answerTimer);
    // no answer (the peer was away, or its connection could not take the restart): start fresh
    this._answerTimer = setTimeout(() => {
      this._enqueue(async () => {
        if (!this._stopped && this.pc && this.pc.signalingState === "have-local-offer") {
          this._log("no answer in time: fresh offer");
          await this._freshOffer();
        }
      });
    }, this._answerTimeoutMs);
  }

  /** @param {{sdp: string}} m */
  async _onOffer(m) {
    if (this._stopped) return;
    this._pendingCandidates = []; // whatever waits is from an older negotiation
    let pc = this.pc;
    /** @type {RTCSessionDescriptionInit} */
    const desc = { type: "offer", sdp: m.sdp };
    this._log(`offer received pc=${pc ? pc.signalingState + "/" + pc.connectionState : "none"}`);
    try {
      if (!pc || pc.signalingState !== "stable") throw new Error("fresh");
      await pc.setRemoteDescription(desc);
    } catch (err) {
      this._log(`new pc for the offer (${err})`);
      pc = await this._newPc();
      await pc.setRemoteDescription(desc);
    }
    await this._drainCandidates(pc);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    const sent = this.session.signal("answer", pc.localDescription.sdp);
    this._log(`answer sent=${sent}`);
  }

  /** @param {{sdp: string}} m */
  async _onAnswer(m) {
    const pc = this.pc;
    this._log(`answer received pc=${pc ? pc.signalingState : "none"}`);
    if (!pc || pc.signalingState !== "have-local-offer") return;
    clearTimeout(this._answerTimer);
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
      await this._drainCandidates(pc);
    } catch (err) {
      this._log(`answer refused: ${err}`);
      await this._freshOffer();
    }
  }

  /** @param {{candidate: RTCIceCandidateInit|null}} m */
  async _onCandidate(m) {
    const pc = this.pc;
    if (!pc || !pc.remoteDescription) {
      this._pendingCandidates.push(m.candidate);
      return;
    }
    try { await pc.addIceCandidate(m.candidate || undefined); } catch { /* from an older negotiation */ }
  }

  /** @param {RTCPeerConnection} pc */
  async _drainCandidates(pc) {
    const list = this._pendingCandidates;
    this._pendingCandidates = [];
    for (const c of list) {
      try { await pc.addIceCandidate(c || undefined); } catch { /* stale */ }
    }
  }

  /** Mute / unmute the microphone. @param {boolean} on */
  setMicrophone(on) { if (this.localStream) for (const t of this.localStream.getAudioTracks()) t.enabled = on; }
  /** Camera on / off. @param {boolean} on */
  setCamera(on) { if (this.localStream) for (const t of this.localStream.getVideoTracks()) t.enabled = on; }

  stop() {
    this._stopped = true;
    clearTimeout(this._answerTimer);
    this._closePc();
    for (const u of this._unsubs) u();
    this._unsubs = [];
  }
}
