/* The tablet's queue of encrypted answers (the offline kiosk; see README "Offline kiosk").
   Used by the kiosk pages, the staff pages and the service worker (kiosk/sw.js).

   - An answer given without a connection is encrypted at once in the browser (WebCrypto):
     a fresh AES-256-GCM key per item, wrapped with the server's RSA-OAEP (SHA-256) public key,
     as ODK does for form encryption. The plain metadata (visit, number in the visit, which
     question) is bound to the ciphertext as additional data. The tablet cannot decrypt what
     it stored: the private key never leaves the server.
   - Each item has a random idempotency key. The queue is sent in order, one item at a time,
     and an item is deleted only after the server's answer for it (stored, already stored,
     or refused for good). Network errors and 5xx stop the round; it is retried with backoff
     (1 s doubling to at most 60 s), when the connection returns, and at every page load.
   - Only one round runs at a time on the tablet (Web Locks), across pages and tabs.
   - How many items the tablet ever made for a visit is also kept in a cookie, which survives
     the browser emptying its storage; the server compares it with what arrived. */
(function (root) {
  "use strict";
  var DB_NAME = "surveyapp-offline";
  var ITEMS = "items";
  var VISITS = "visits";
  var COOKIE = "surveyapp_offline";
  var SYNC_URL = "/kiosk/sync";
  var STATUS_URL = "/kiosk/sync/status";
  var FIRST_DELAY = 1000;
  var MAX_DELAY = 60000;
  var FORGET_AFTER = 12 * 3600 * 1000; // a visit ends within the staff login's 12 hours
  var delay = FIRST_DELAY;
  var retry = null;
  var listeners = [];

  function b64(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text);
  }

  function unb64(text) {
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function request(req) {
    return new Promise(function (resolve, reject) {
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function open() {
    var req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = function () {
      var db = req.result;
      var items = db.createObjectStore(ITEMS, {keyPath: "key"});
      items.createIndex("order", "order");
      db.createObjectStore(VISITS, {keyPath: "visit"});
    };
    return request(req);
  }

  /* Run `work(stores)` in one transaction; resolves with its result once committed. */
  function transact(names, mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(names, mode);
        var stores = {};
        names.forEach(function (name) { stores[name] = tx.objectStore(name); });
        var result;
        Promise.resolve(work(stores)).then(function (value) { result = value; }, reject);
        tx.oncomplete = function () { db.close(); resolve(result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  /* Is there a queue at all? (Without opening, which would create one on a staff PC.) */
  function exists() {
    if (!root.indexedDB) { return Promise.resolve(false); }
    if (!indexedDB.databases) { return Promise.resolve(true); }
    return indexedDB.databases().then(function (dbs) {
      return dbs.some(function (db) { return db.name === DB_NAME; });
    }, function () { return true; });
  }

  function seal(config, key, seq, payload) {
    var subtle = root.crypto.subtle;
    var aad = new TextEncoder().encode(key + "|" + config.kid + "|" + config.visit + "|" + seq);
    var iv = root.crypto.getRandomValues(new Uint8Array(12));
    return Promise.all([
      subtle.importKey("spki", unb64(config.spki), {name: "RSA-OAEP", hash: "SHA-256"}, false,
        ["encrypt"]),
      subtle.generateKey({name: "AES-GCM", length: 256}, true, ["encrypt"])
    ]).then(function (keys) {
      var plain = new TextEncoder().encode(JSON.stringify(payload));
      return Promise.all([
        subtle.exportKey("raw", keys[1]).then(function (raw) {
          return subtle.encrypt({name: "RSA-OAEP"}, keys[0], raw);
        }),
        subtle.encrypt({name: "AES-GCM", iv: iv, additionalData: aad}, keys[1], plain)
      ]);
    }).then(function (parts) {
      return {key: key, kid: config.kid, visit: config.visit, seq: seq,
              wrapped: b64(parts[0]), iv: b64(iv), data: b64(parts[1])};
    });
  }

  function uuid() {
    if (root.crypto.randomUUID) { return root.crypto.randomUUID(); }
    var b = root.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); });
    return [h.slice(0, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10), h.slice(10)]
      .map(function (g) { return g.join(""); }).join("-");
  }

  /* What the sealing needs of the offline page's data (#offline-data). */
  function configOf(data) {
    return {visit: data.visit, credential: data.credential, kid: data.kid, spki: data.spki};
  }

  /* The answer a form's raw value stands for, checked as the server will check it:
     {value} (null: an optional question skipped) or null when there is none to send. */
  function answerOf(item, raw, skip) {
    var text = raw === null || raw === undefined ? "" : String(raw).trim();
    if (skip && item.optional) { return {value: null}; }
    if (text === "dont_know" || text === "not_applicable") { return {value: text}; }
    if (/^[0-9]{1,4}$/.test(text) &&
        (item.min === undefined || (+text >= item.min && +text <= item.max))) {
      return {value: parseInt(text, 10)};
    }
    if (text === "" && item.optional) { return {value: null}; }
    return null;
  }

  /* Queue one item: `meta` is what may stay readable (kind, position, number, item id),
     `fields` what is encrypted with it (the answer). Resolves once it is stored. */
  function add(config, meta, fields) {
    var counted = readCookie()[config.visit];  // if the browser emptied the queue, go on from here
    return transact([VISITS], "readwrite", function (stores) {
      return request(stores[VISITS].get(config.visit)).then(function (known) {
        var visit = known || {visit: config.visit, created: 0, credential: config.credential};
        visit.created = Math.max(visit.created, counted ? counted[0] : 0) + 1;
        visit.at = Date.now();
        stores[VISITS].put(visit);
        return visit.created;
      });
    }).then(function (seq) {
      var key = uuid();
      var payload = {v: 1, credential: config.credential, at: new Date().toISOString()};
      Object.keys(fields).forEach(function (name) { payload[name] = fields[name]; });
      return seal(config, key, seq, payload).then(function (envelope) {
        var record = {key: key, visit: config.visit, seq: seq, order: [Date.now(), seq],
                      kind: meta.kind, position: meta.position || null,
                      number: meta.number || null, item: meta.item || null, envelope: envelope};
        return transact([ITEMS], "readwrite", function (stores) {
          stores[ITEMS].put(record);
        }).then(function () {
          mirror();
          notify();
          return record;
        });
      });
    });
  }

  function list() {
    return exists().then(function (yes) {
      if (!yes) { return []; }
      return transact([ITEMS], "readonly", function (stores) {
        return request(stores[ITEMS].index("order").getAll());
      });
    });
  }

  function visits() {
    return exists().then(function (yes) {
      if (!yes) { return []; }
      return transact([VISITS], "readonly", function (stores) {
        return request(stores[VISITS].getAll());
      });
    });
  }

  function count() {
    return list().then(function (items) { return items.length; });
  }

  function remove(key) {
    return transact([ITEMS], "readwrite", function (stores) { stores[ITEMS].delete(key); });
  }

  /* The cookie: {visit: [created, credential, last item's time]} (no answer, no question). */
  function readCookie() {
    if (typeof document === "undefined") { return {}; }
    var found = document.cookie.split("; ").filter(function (c) {
      return c.indexOf(COOKIE + "=") === 0;
    })[0];
    try { return found ? JSON.parse(decodeURIComponent(found.slice(COOKIE.length + 1))) : {}; }
    catch (e) { return {}; }
  }

  function writeCookie(value) {
    if (typeof document === "undefined") { return; }
    var secure = root.location.protocol === "https:" ? "; Secure" : "";
    var text = encodeURIComponent(JSON.stringify(value));
    var age = Object.keys(value).length ? 30 * 24 * 3600 : 0;
    document.cookie = COOKIE + "=" + text + "; Path=/; Max-Age=" + age + "; SameSite=Strict" +
      secure;
  }

  /* The cookie's counters with the stored ones merged in (the higher count wins). */
  function counted(rows) {
    var cookie = readCookie();
    rows.forEach(function (row) {
      var old = cookie[row.visit];
      if (!old || old[0] < row.created) { cookie[row.visit] = [row.created, row.credential, row.at]; }
    });
    return cookie;
  }

  /* Copy the counters into the cookie (the service worker cannot write cookies). */
  function mirror() {
    if (typeof document === "undefined") { return Promise.resolve(); }
    return visits().then(function (rows) { writeCookie(counted(rows)); });
  }

  function post(url, body) {
    return root.fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
    });
  }

  /* Send every queued item in order. Resolves with {sent, refused, failed}. */
  function round() {
    return list().then(function (items) {
      var result = {sent: 0, refused: 0, failed: false};
      var i = 0;
      function next() {
        if (i >= items.length) { return result; }
        var item = items[i++];
        return post(SYNC_URL, item.envelope).then(function (response) {
          if (response.status === 200 || response.status === 409 || response.status === 422) {
            result[response.status === 200 ? "sent" : "refused"] += 1;
            return remove(item.key).then(next);  // answered for good: only now deleted
          }
          result.failed = true;
          return result;
        }, function () {
          result.failed = true;
          return result;
        });
      }
      return next();
    });
  }

  /* Tell the server how many items the tablet made for each visit and still holds, so that
     it can see what never arrived; forget visits that are over and fully sent. */
  function report() {
    if (typeof document === "undefined") { return Promise.resolve(); }
    return Promise.all([visits(), list()]).then(function (found) {
      var cookie = counted(found[0]);
      var pending = {};
      found[1].forEach(function (item) { pending[item.visit] = (pending[item.visit] || 0) + 1; });
      return Promise.all(Object.keys(cookie).map(function (visit) {
        var entry = cookie[visit];
        var body = {visit: Number(visit), credential: entry[1], created: entry[0],
                    pending: pending[visit] || 0};
        return post(STATUS_URL, body).then(function (response) {
          var over = !pending[visit] && Date.now() - (entry[2] || 0) > FORGET_AFTER;
          if (response.ok && over || response.status === 422) { return visit; }
          return null;
        }, function () { return null; });
      })).then(function (forget) {
        forget = forget.filter(Boolean);
        forget.forEach(function (visit) { delete cookie[visit]; });
        writeCookie(cookie);
        if (!forget.length) { return; }
        return transact([VISITS], "readwrite", function (stores) {
          forget.forEach(function (visit) { stores[VISITS].delete(Number(visit)); });
        });
      });
    });
  }

  function schedule() {
    root.clearTimeout(retry);
    var wait = delay + Math.floor(Math.random() * delay / 4);
    delay = Math.min(delay * 2, MAX_DELAY);
    retry = root.setTimeout(function () { send(); }, wait);
  }

  /* One round of sending (one at a time on the tablet, unless `unlocked`: the tests' storm). */
  function send(options) {
    var unlocked = options && options.unlocked;
    var work = function () {
      return round().then(function (result) {
        if (result.failed) { schedule(); } else { delay = FIRST_DELAY; }
        notify();
        return report().then(function () { return result; }, function () { return result; });
      });
    };
    return exists().then(function (yes) {
      if (!yes) {  // nothing queued (or the browser emptied it): the counters still count
        return report().then(function () { return {sent: 0, refused: 0, failed: false}; });
      }
      if (!unlocked && root.navigator.locks) {
        return root.navigator.locks.request("surveyapp-offline-send", work);
      }
      return work();
    });
  }

  function notify() {
    count().then(function (n) {
      listeners.forEach(function (listener) { listener(n); });
    });
  }

  function onChange(listener) {
    listeners.push(listener);
    notify();
  }

  /* Delete the whole queue database (only when it is empty: the hand-back cleanup). */
  function dropIfEmpty() {
    return count().then(function (n) {
      if (n) { return false; }
      return mirror().then(function () {  // the counters live on in the cookie
        return new Promise(function (resolve) {
          var req = indexedDB.deleteDatabase(DB_NAME);
          req.onsuccess = req.onerror = req.onblocked = function () { resolve(true); };
        });
      });
    });
  }

  if (typeof document !== "undefined") {
    root.addEventListener("online", function () {
      delay = FIRST_DELAY;
      send();
    });
  }

  root.SurveyappQueue = {
    add: add, list: list, count: count, send: send, report: report, mirror: mirror,
    onChange: onChange, exists: exists, dropIfEmpty: dropIfEmpty, configOf: configOf,
    answerOf: answerOf, DB_NAME: DB_NAME
  };
})(typeof self !== "undefined" ? self : this);
