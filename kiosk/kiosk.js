/* Kiosk script for the staff tablet (progressive enhancement; the server enforces every rule).
   - Idle timer: after the configured time without a touch, "Er du der stadig?" is shown for
     the last minute; if nobody answers, the tablet is handed back (POST /kiosk/idle).
   - Screen Wake Lock keeps the screen on while the citizen answers.
   - On the hand-over and hand-back screens: no way back in the browser history, and
     nothing is left in any browser storage. */
(function () {
  "use strict";
  var body = document.body;
  var state = body.getAttribute("data-kiosk");

  function clearStorage() {
    try { window.localStorage.clear(); window.sessionStorage.clear(); } catch (e) { /* blocked */ }
    if (window.caches && caches.keys) {
      caches.keys().then(function (keys) { keys.forEach(function (k) { caches.delete(k); }); });
    }
    if (window.indexedDB && indexedDB.databases) {
      indexedDB.databases().then(function (dbs) {
        dbs.forEach(function (db) { if (db.name) { indexedDB.deleteDatabase(db.name); } });
      });
    }
  }

  if (state === "handback" || state === "handover") {
    clearStorage();
    /* Replace history so that "back" stays on this screen. */
    window.history.replaceState(null, "", window.location.href);
    window.history.pushState(null, "", window.location.href);
    window.addEventListener("popstate", function () {
      window.history.pushState(null, "", window.location.href);
    });
    return;
  }

  /* Answering: keep the screen on. */
  var lock = null;
  function wake() {
    if (navigator.wakeLock && document.visibilityState === "visible") {
      navigator.wakeLock.request("screen").then(function (l) { lock = l; }).catch(function () {});
    }
  }
  wake();
  document.addEventListener("visibilitychange", wake);

  var seconds = parseInt(body.getAttribute("data-idle-seconds"), 10);
  if (!seconds) { return; }
  var warnAfter = Math.max(seconds - 60, Math.floor(seconds * 0.5)) * 1000;
  var dialog = document.getElementById("still-there");
  var csrf = document.querySelector("meta[name=csrf-token]");
  var warnTimer = null;
  var idleTimer = null;

  function post(url) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = url;
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrf ? csrf.content : "";
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  }
  function restart() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(idleTimer);
    warnTimer = window.setTimeout(function () {
      if (dialog && dialog.showModal && !dialog.open) { dialog.showModal(); }
    }, warnAfter);
    idleTimer = window.setTimeout(function () {
      post(body.getAttribute("data-idle-url"));
    }, seconds * 1000);
  }
  ["pointerdown", "keydown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () {
      if (!dialog || !dialog.open) { restart(); }
    }, {passive: true});
  });
  var here = document.querySelector("[data-still-here]");
  if (here) {
    here.addEventListener("click", function () {
      dialog.close();
      restart();
      window.fetch(body.getAttribute("data-ping-url"), {
        method: "POST", credentials: "same-origin",
        headers: {"X-CSRFToken": csrf ? csrf.content : ""}
      }).catch(function () {});
    });
  }
  restart();
})();
