/* Kiosk script for the staff tablet (progressive enhancement; the server enforces every rule).
   - Idle timer: after the configured time without a touch, "Er du der stadig?" is shown for
     the last minute; if nobody answers, the tablet is handed back (POST /kiosk/idle).
   - Screen Wake Lock keeps the screen on while the citizen answers.
   - The offline kiosk (kiosk/sw.js, kiosk/offline.js): the hand-over screen installs the
     service worker and has it cache the visit's offline page before the citizen starts;
     every page shown online keeps that page up to date and sends any queued answers.
   - On the hand-over and hand-back screens: no way back in the browser history. At the
     hand-back nothing is left in any browser storage, except answers still waiting to be
     sent (only as ciphertext) and a hand-back screen that holds no questionnaire. */
(function () {
  "use strict";
  var body = document.body;
  var state = body.getAttribute("data-kiosk");
  var Q = window.SurveyappQueue;

  /* The idle timer of the answering screens (also the offline page's, kiosk/offline.js):
     "Er du der stadig?" for the last minute, then `onIdle`; "Ja, jeg er her" calls `onHere`. */
  function idle(onIdle, onHere) {
    var seconds = parseInt(body.getAttribute("data-idle-seconds"), 10);
    var dialog = document.getElementById("still-there");
    var warnTimer = null;
    var idleTimer = null;
    var stopped = !seconds;
    function restart() {
      window.clearTimeout(warnTimer);
      window.clearTimeout(idleTimer);
      if (stopped) { return; }
      var warnAfter = Math.max(seconds - 60, Math.floor(seconds * 0.5)) * 1000;
      warnTimer = window.setTimeout(function () {
        if (dialog && dialog.showModal && !dialog.open) { dialog.showModal(); }
      }, warnAfter);
      idleTimer = window.setTimeout(onIdle, seconds * 1000);
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
        if (onHere) { onHere(); }
      });
    }
    restart();
    return {
      stop: function () {
        stopped = true;
        restart();
        if (dialog && dialog.open) { dialog.close(); }
      }
    };
  }
  window.SurveyappKiosk = {idle: idle};
  if (state === "offline") { return; }  // kiosk/offline.js runs that page

  var worker = "serviceWorker" in navigator && window.isSecureContext;

  function tell(type) {
    if (!worker) { return Promise.resolve(false); }
    return navigator.serviceWorker.ready.then(function (registration) {
      return new Promise(function (resolve) {
        var done = function (event) {
          if (event.data && event.data.type === type) {
            navigator.serviceWorker.removeEventListener("message", done);
            resolve(event.data.ok);
          }
        };
        navigator.serviceWorker.addEventListener("message", done);
        registration.active.postMessage({type: type});
        window.setTimeout(function () { resolve(false); }, 15000);
      });
    });
  }

  function clearStorage() {
    try { window.localStorage.clear(); window.sessionStorage.clear(); } catch (e) { /* blocked */ }
    /* Answers still waiting keep their queue (ciphertext only) and the hand-back screen. */
    return Q.send().catch(function () {}).then(function () {
      return Q.dropIfEmpty();
    }).then(function (dropped) {
      if (!dropped) { return tell("refresh"); }
      if (window.caches && caches.keys) {
        return caches.keys().then(function (keys) {
          return Promise.all(keys.map(function (k) { return caches.delete(k); }));
        });
      }
      return null;
    }).catch(function () {});
  }

  function connection() {
    var badge = document.querySelector("[data-connection]");
    if (badge) { badge.hidden = navigator.onLine; }
  }
  window.addEventListener("online", connection);
  window.addEventListener("offline", connection);
  connection();

  if (state === "handback" || state === "handover") {
    if (state === "handover" && worker) {
      /* Ready before the door opens: the visit's offline page and assets are cached now. */
      navigator.serviceWorker.register(body.getAttribute("data-sw-url"), {scope: "/"})
        .then(function () { return tell("prepare"); })
        .then(function (ok) { body.setAttribute("data-offline-ready", ok ? "1" : "0"); },
              function () { body.setAttribute("data-offline-ready", "0"); });
      try { window.localStorage.clear(); window.sessionStorage.clear(); } catch (e) { /* blocked */ }
      Q.send().catch(function () {});
    } else {
      clearStorage().then(function () { body.setAttribute("data-offline-ready", "1"); });
    }
    /* Replace history so that "back" stays on this screen. */
    window.history.replaceState(null, "", window.location.href);
    window.history.pushState(null, "", window.location.href);
    window.addEventListener("popstate", function () {
      window.history.pushState(null, "", window.location.href);
    });
    return;
  }

  /* Answering online: keep the offline page current, send anything still waiting. */
  if (worker && navigator.serviceWorker.controller) {
    tell("refresh");
    Q.count().then(function (n) { if (n) { Q.send(); } });
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

  var csrf = document.querySelector("meta[name=csrf-token]");
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
  idle(function () { post(body.getAttribute("data-idle-url")); }, function () {
    window.fetch(body.getAttribute("data-ping-url"), {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRFToken": csrf ? csrf.content : ""}
    }).catch(function () {});
  });
})();
