/* The staff screens on a kiosk tablet (the offline kiosk; see README "Offline kiosk").
   - Sends any answers still waiting in the tablet's queue (at every page load and when the
     connection returns) and shows "N svar venter på at blive sendt" while there are any.
   - Logging out and starting another visit ask first while the queue is not empty.
   - Asks the browser for persistent storage on the kiosk's confirmation page and tells
     staff if the browser refused it. Nothing here reads an answer: the queue is ciphertext. */
/* global SurveyappQueue */
(function () {
  "use strict";
  var Q = window.SurveyappQueue;
  var banner = document.getElementById("offline-queue");
  var dialog = document.getElementById("offline-warning");
  if (!Q || !banner || !window.indexedDB) { return; }
  var waiting = 0;

  function words(element, n) {
    var text = element.getAttribute(n === 1 ? "data-one" : "data-many") || "";
    return text.replace(/[0-9]+/, String(n));
  }

  function refused() {
    return navigator.storage && navigator.storage.persisted ?
      navigator.storage.persisted().then(function (yes) { return !yes; }, function () { return false; }) :
      Promise.resolve(false);
  }

  Q.onChange(function (n) {
    waiting = n;
    banner.hidden = n === 0;
    banner.querySelector("[data-offline-count]").textContent = words(banner, n);
    refused().then(function (no) {
      banner.querySelector("[data-offline-persist]").hidden = !(no && n > 0);
    });
  });
  banner.querySelector("[data-offline-send]").addEventListener("click", function () {
    Q.send();
  });
  Q.send().catch(function () {});

  /* Ask before leaving answers behind. */
  var leaving = null;
  document.querySelectorAll("form").forEach(function (form) {
    var action = form.getAttribute("action") || "";
    var queue = form.querySelector("input[name=queue]");
    var logout = /\/logout$/.test(action);
    var start = /\/kiosk\/start$/.test(action) && queue && queue.value;
    if (!logout && !start) { return; }
    form.addEventListener("submit", function (event) {
      if (!waiting || form === leaving || !dialog || !dialog.showModal) { return; }
      event.preventDefault();
      dialog.querySelector("[data-offline-warning-text]").textContent = words(dialog, waiting);
      dialog.querySelector("[data-offline-continue]").onclick = function () {
        dialog.close();
        leaving = form;
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      };
      dialog.showModal();
    });
  });
  if (dialog) {
    dialog.querySelector("[data-offline-cancel]").addEventListener("click", function () {
      dialog.close();
    });
  }

  /* Kiosk start: ask to keep the tablet's storage, and say so if the browser will not. */
  var note = document.querySelector("[data-persist-refused]");
  if (note && navigator.storage && navigator.storage.persist) {
    navigator.storage.persist().then(function (granted) {
      note.hidden = granted;
      document.body.setAttribute("data-persist", granted ? "granted" : "refused");
    }, function () { note.hidden = false; });
  }
})();
