/* The offline kiosk page (/kiosk/offline; the service worker shows it at any kiosk address
   it cannot reach). See README "Offline kiosk".

   The page holds the visit's questionnaires as inert <template>s (the online pages' markup)
   and shows one screen at a time at the address the online page would have. The citizen's
   choices of this sitting are kept in page memory only (`chosen`), so going back shows them;
   each answer leaves the page only encrypted into the queue (kiosk/queue.js). After a reload
   the page knows which questions have an answer (from the queue's plain metadata and the
   server's list), never what the answer was. At hand-back the page forgets the choices and
   the cached copy of the page loses its questionnaires. The PIN is checked by the server
   only: the tablet stays on the hand-back screen until it is online again. */
/* global SurveyappQueue */
(function () {
  "use strict";
  var Q = window.SurveyappQueue;
  var data = JSON.parse(document.getElementById("offline-data").textContent);
  var config = Q.configOf(data);
  var main = document.getElementById("offline-screen");
  var footer = document.querySelector(".kiosk-bar");
  var CACHE = "surveyapp-kiosk-v1";
  var places = {};
  var chosen = {};   // position -> {item id: answer}: this sitting only, never stored
  var answered = {}; // position -> {item id: true}: which questions have an answer
  var handedBack = data.state !== "answering";
  var busy = false;
  var bar = document.querySelector(".bar .title");
  var heading = bar ? bar.textContent : "";  // the page's own; a questionnaire's while on screen

  data.places.forEach(function (place) {
    places[place.position] = place;
    chosen[place.position] = {};
    answered[place.position] = {};
    place.answered.forEach(function (id) { answered[place.position][id] = true; });
  });

  function template(selector) { return document.querySelector("template" + selector); }

  function show(selector, path, replace) {
    var t = template(selector);
    if (!t) { return false; }
    main.replaceChildren(t.content.cloneNode(true));
    main.lang = t.getAttribute("data-lang") || document.documentElement.lang;
    document.title = t.getAttribute("data-title") || document.title;
    if (bar) {
      bar.textContent = t.hasAttribute("data-position") ? t.getAttribute("data-title") : heading;
    }
    if (path && path !== window.location.pathname + window.location.search) {
      window.history[replace ? "replaceState" : "pushState"]({offline: true}, "", path);
    }
    var h1 = main.querySelector("h1");
    if (h1) { h1.setAttribute("tabindex", "-1"); h1.focus({preventScroll: true}); }
    window.scrollTo(0, 0);
    return true;
  }

  function firstOpen() {
    for (var i = 0; i < data.places.length; i++) {
      if (!data.places[i].done) { return data.places[i]; }
    }
    return null;
  }

  function firstUnanswered(place) {
    for (var i = 0; i < place.items.length; i++) {
      if (!answered[place.position][place.items[i].id]) { return i + 1; }
    }
    return place.items.length;
  }

  function hasAnswers(place) { return Object.keys(answered[place.position]).length > 0; }

  /* --- the screens ---------------------------------------------------------------------- */

  function showStart(place, replace) {
    show('[data-screen=start][data-position="' + place.position + '"]',
      "/kiosk/" + place.position, replace);
    wire();
  }

  function showQuestion(place, number, replace) {
    show('[data-screen=question][data-position="' + place.position + '"][data-number="' +
      number + '"]', "/kiosk/" + place.position + "/" + number, replace);
    var item = place.items[number - 1];
    var given = chosen[place.position][item.id];
    var form = main.querySelector("form.question");
    if (given !== undefined && given !== null) {
      var input = form.querySelector("input[type=number]");
      if (input) { input.value = given; }
      form.querySelectorAll("input[type=radio]").forEach(function (radio) {
        radio.checked = radio.value === String(given);
      });
    }
    wire();
  }

  function showHandback(replace) {
    handedBack = true;
    chosen = {};
    if (footer) { footer.hidden = true; }
    if (idle) { idle.stop(); }
    show("[data-screen=handback]", "/kiosk/", replace);
    wire();
    forgetQuestionnaires();
    connection();
    if (navigator.onLine) { backOnline(); }
  }

  function next(place) {
    var later = data.places.filter(function (p) { return p.position > place.position && !p.done; });
    if (later.length) { showStart(later[0]); return; }
    queue({kind: "handback"}, {kind: "handback", reason: "done"}).then(function () {
      showHandback();
    });
  }

  /* Where the address says (a reload, or the service worker's "on to the next question"). */
  function route() {
    var params = new URLSearchParams(window.location.search);
    var match = window.location.pathname.match(/^\/kiosk\/([0-9]+)(?:\/([0-9]+|tak))?$/);
    var place = match && places[Number(match[1])];
    if (handedBack || params.has("handback")) { showHandback(true); return; }
    if (params.has("begin") && places[Number(params.get("begin"))]) {
      place = places[Number(params.get("begin"))];
      if (!place.done) { showQuestion(place, firstUnanswered(place), true); return; }
    }
    if (place && match[2] === "tak") { place.done = true; next(place); return; }
    if (place && !place.done && match[2]) {
      showQuestion(place, Math.min(Number(match[2]), place.items.length), true);
      return;
    }
    if (place && !place.done) { showStart(place, true); return; }
    var open = firstOpen();
    if (!open) { showHandback(true); return; }
    if (hasAnswers(open)) { showQuestion(open, firstUnanswered(open), true); return; }
    showStart(open, true);
  }

  /* --- answering ---------------------------------------------------------------------- */

  function queue(meta, fields) {
    return Q.add(config, meta, fields).then(function (record) {
      if (navigator.onLine) { send(); }
      return record;
    });
  }

  function send() {
    return Q.send().then(function (result) {
      if (result.sent && !handedBack) { cachePage(false); }
      return result;
    });
  }

  function message(form, text) {
    var old = form.querySelector(".message");
    if (old) { old.remove(); }
    var p = document.createElement("p");
    p.className = "message";
    p.setAttribute("role", "alert");
    p.id = "message";
    p.textContent = text;
    form.insertBefore(p, form.firstChild);
  }

  function answer(form, skip) {
    var match = window.location.pathname.match(/^\/kiosk\/([0-9]+)\/([0-9]+)$/);
    var place = places[Number(match[1])];
    var number = Number(match[2]);
    var item = place.items[number - 1];
    var radio = form.querySelector("input[type=radio]:checked");
    var input = form.querySelector("input[type=number]");
    var answer = Q.answerOf(item, radio ? radio.value : input ? input.value : "", skip);
    if (answer === null) {
      message(form, item.message);
      return;
    }
    var value = answer.value;
    busy = true;
    chosen[place.position][item.id] = value;
    queue({kind: "answer", position: place.position, number: number, item: item.id},
          {kind: "answer", assignment: place.assignment, item: item.id, answer: value,
           language: place.language}).then(function () {
      answered[place.position][item.id] = true;
      if (number < place.items.length) { showQuestion(place, number + 1); return null; }
      return queue({kind: "submit", position: place.position},
                   {kind: "submit", assignment: place.assignment, language: place.language})
        .then(function () { place.done = true; next(place); });
    }).then(function () { busy = false; }, function () {
      busy = false;
      message(form, item.message);
    });
  }

  /* The screen's forms and links work in the page (the online pages' addresses). */
  function wire() {
    main.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (busy) { return; }
        var action = form.getAttribute("data-action");
        if (action === "begin") {
          var position = Number(window.location.pathname.split("/")[2]);
          showQuestion(places[position], firstUnanswered(places[position]));
        } else if (action === "unlock") {
          unlock();
        } else if (form.classList.contains("question")) {
          var submitter = event.submitter;
          answer(form, submitter && submitter.name === "skip");
        }
      });
    });
    main.querySelectorAll(".options input[type=radio]").forEach(function (input) {
      input.addEventListener("click", function (event) {
        if (event.detail < 1) { return; }  // keyboard selection: wait for Next
        var form = input.form;
        window.setTimeout(function () { if (!busy) { answer(form, false); } }, 200);
      });
    });
    main.querySelectorAll("nav.back a").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var parts = new URL(link.href).pathname.split("/");
        var place = places[Number(parts[2])];
        if (parts[3]) { showQuestion(place, Number(parts[3])); } else { showStart(place); }
      });
    });
    var speak = main.querySelector("[data-speak]");
    if (speak) { speak.hidden = true; }
  }

  /* --- hand-back, the PIN and the connection --------------------------------------------- */

  /* Keep the cached copy of this page up to date: which questions have an answer (once sent,
     they leave the queue), and no questionnaire at all once the tablet is handed back. */
  function cachePage(handback) {
    if (!window.caches) { return Promise.resolve(); }
    var copy = document.documentElement.cloneNode(true);
    if (handback) {
      copy.querySelectorAll("template[data-position]").forEach(function (t) { t.remove(); });
    }
    var screen = copy.querySelector("#offline-screen");
    if (screen) { screen.replaceChildren(); }
    var title = copy.querySelector(".bar .title");
    if (title) { title.textContent = heading; }
    var saved = {visit: data.visit, credential: data.credential, kid: data.kid, spki: data.spki,
                 state: handback ? "handback" : "answering", places: []};
    if (!handback) {
      saved.places = data.places.map(function (place) {
        var copied = {};
        Object.keys(place).forEach(function (name) { copied[name] = place[name]; });
        copied.answered = Object.keys(answered[place.position]);
        return copied;
      });
    }
    copy.querySelector("#offline-data").textContent =
      JSON.stringify(saved).replace(/</g, "\\u003c");
    var html = "<!doctype html>\n" + copy.outerHTML;
    return caches.open(CACHE).then(function (cache) {
      return cache.put("/kiosk/offline", new Response(html, {
        headers: {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
      }));
    }).catch(function () {});
  }

  function forgetQuestionnaires() { return cachePage(true); }

  /* Online again after the hand-back: send what can be sent, then the server's hand-back
     screen (its PIN form has a fresh token; anything not sent yet stays queued and the staff
     screens say so). */
  function backOnline() {
    show("[data-screen=sending]", null, true);
    Q.send().then(leave, leave);
  }

  /* To the server's hand-back screen once the server has everything of this visit (it then
     knows of the hand-back too). If the browser was closed during the visit, it no longer
     holds the visit (a session cookie): staff log in with their password, and whatever is
     still queued waits for the staff screens to send it. */
  function leave() {
    Q.list().then(function (items) {
      var unsent = items.filter(function (item) { return item.visit === data.visit; }).length;
      return fetch("/kiosk/", {credentials: "same-origin", cache: "no-store"}).then(function (r) {
        if (r.status === 404) { window.location.replace("/login"); return; }
        if (!unsent) { window.location.replace("/kiosk/"); return; }
        show("[data-screen=handback]", null, true);
        wire();
        var note = main.querySelector("[data-when-unsent]");
        if (note) { note.hidden = false; }
        window.setTimeout(backOnline, 10000);
      });
    }).catch(function () {
      show("[data-screen=handback]", null, true);
      wire();
      connection();
    });
  }

  function unlock() {
    if (!navigator.onLine) {
      var note = main.querySelector("[data-when-offline]");
      if (note) { note.hidden = false; }
      var pin = main.querySelector("#pin");
      if (pin) { pin.value = ""; }
      return;
    }
    backOnline();
  }

  function connection() {
    var badge = document.querySelector("[data-connection]");
    if (badge) { badge.hidden = navigator.onLine; }
    var note = main.querySelector("[data-when-offline]");
    if (note && navigator.onLine) { note.hidden = true; }
  }

  window.addEventListener("online", function () {
    connection();
    if (handedBack) { backOnline(); } else { send(); }
  });
  window.addEventListener("offline", connection);
  window.addEventListener("popstate", function () {
    if (handedBack) {  // no way back into the questionnaire
      window.history.pushState({offline: true}, "", "/kiosk/");
      return;
    }
    route();
  });

  /* The header's text size and the footer's pause work in the page. */
  document.querySelectorAll("form.tools").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var size = event.submitter && event.submitter.value;
      if (!/^[123]$/.test(size || "")) { return; }
      textSize(size);
      if (navigator.onLine) {
        var body = new URLSearchParams({size: size, next: "/kiosk/"});
        fetch(form.action, {method: "POST", body: body, credentials: "same-origin"})
          .catch(function () {});
      }
    });
  });

  function textSize(size) {
    document.documentElement.className = "size-" + size;
    document.querySelectorAll("form.tools button[name=size]").forEach(function (b) {
      if (b.value === size) { b.setAttribute("aria-current", "true"); }
      else { b.removeAttribute("aria-current"); }
    });
  }

  var hash = window.location.hash.match(/^#size=([123])$/);
  if (hash) {
    textSize(hash[1]);
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  if (footer) {
    footer.querySelector("form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy || handedBack) { return; }
      queue({kind: "handback"}, {kind: "handback", reason: "pause"}).then(function () {
        showHandback();
      });
    });
  }

  /* Idle: "Are you still there?" for the last minute, then the hand-back screen. */
  var idle = window.SurveyappKiosk.idle(function () {
    if (handedBack) { return; }
    queue({kind: "handback"}, {kind: "handback", reason: "idle"}).then(function () {
      showHandback();
    });
  }, null);

  /* Which questions have an answer waiting in the queue (metadata only). */
  Q.list().then(function (items) {
    items.forEach(function (item) {
      if (item.visit !== data.visit) { return; }
      var place = places[item.position];
      if (item.kind === "answer" && place) { answered[item.position][item.item] = true; }
      if (item.kind === "submit" && place) { place.done = true; }
      if (item.kind === "handback") { handedBack = true; }
    });
  }).catch(function () {}).then(function () {
    Q.mirror();
    route();
    if (handedBack) { idle.stop(); }
    connection();
    document.body.setAttribute("data-offline-ready", "1");
    if (navigator.onLine && !handedBack) { send(); }
  });
})();
