/* The kiosk's service worker (the offline kiosk; see README "Offline kiosk").

   - At kiosk start (the hand-over screen) it caches what the visit needs: the offline page of
     the visit's questionnaires (/kiosk/offline, rendered by the server: no answer in it) and
     the scripts and styles. Every kiosk page shown online asks it to refresh that page, so
     that it knows which questions already have an answer.
   - When a kiosk address cannot be reached, it shows the offline page instead; the page
     finds its screen from the address. An answer form sent without a connection is
     encrypted into the queue (kiosk/queue.js) and the browser is sent on to the next
     question, as the server would have done.
   - Nothing else is touched: staff pages, downloads and the queue's own requests go to the
     network as usual. */
/* global SurveyappQueue */
importScripts("/kiosk/app/queue.js");

var CACHE = "surveyapp-kiosk-v1";
var RUNNER = "/kiosk/offline";
var ASSETS = [
  "/static/respond.css", "/static/respond.js", "/kiosk/app/queue.js", "/kiosk/app/kiosk.js",
  "/kiosk/app/offline.js", "/kiosk/manifest.webmanifest"
];
var TIMEOUT = 10000; // a connection that hangs counts as none for a kiosk page

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function refreshRunner() {
  return fetch(RUNNER, {credentials: "same-origin", cache: "no-store"}).then(function (response) {
    return caches.open(CACHE).then(function (cache) {
      if (response.ok) { return cache.put(RUNNER, response).then(function () { return true; }); }
      if (response.status === 404) { return cache.delete(RUNNER).then(function () { return false; }); }
      return false;
    });
  }, function () { return false; });
}

function prepare() {
  return caches.open(CACHE).then(function (cache) {
    return cache.addAll(ASSETS);
  }).then(refreshRunner);
}

self.addEventListener("message", function (event) {
  var type = event.data && event.data.type;
  var reply = function (ok) {
    if (event.source) { event.source.postMessage({type: type, ok: ok}); }
  };
  if (type === "prepare") { event.waitUntil(prepare().then(reply, function () { reply(false); })); }
  if (type === "refresh") { event.waitUntil(refreshRunner().then(reply)); }
  if (type === "forget") {
    event.waitUntil(caches.delete(CACHE).then(function () { reply(true); }));
  }
});

function withTimeout(request) {
  var controller = new AbortController();
  var timer = setTimeout(function () { controller.abort(); }, TIMEOUT);
  return fetch(request, {signal: controller.signal}).then(function (response) {
    clearTimeout(timer);
    return response;
  }, function (error) {
    clearTimeout(timer);
    throw error;
  });
}

function runner() {
  return caches.match(RUNNER).then(function (response) { return response || Response.error(); });
}

/* The visit's data from the cached offline page (the JSON in #offline-data). */
function runnerData() {
  return caches.match(RUNNER).then(function (response) {
    if (!response) { return null; }
    return response.text().then(function (html) {
      var start = html.indexOf('<script type="application/json" id="offline-data">');
      if (start < 0) { return null; }
      start = html.indexOf(">", start) + 1;
      return JSON.parse(html.slice(start, html.indexOf("</script>", start)));
    });
  });
}

function redirect(path) {
  return Response.redirect(new URL(path, self.location.origin).href, 303);
}

/* An answer form sent without a connection: queue it, then on as the server would go. */
function queueAnswer(data, position, number, form) {
  var place = data.places.filter(function (p) { return p.position === position; })[0];
  if (!place || place.done || number < 1 || number > place.items.length) {
    return redirect("/kiosk/");
  }
  var item = place.items[number - 1];
  var answer = SurveyappQueue.answerOf(item, form.get(item.id), form.get("skip") === "1");
  if (answer === null) {
    return redirect("/kiosk/" + position + "/" + number); // nothing usable chosen: ask again
  }
  var config = SurveyappQueue.configOf(data);
  var meta = {kind: "answer", position: position, number: number, item: item.id};
  var fields = {kind: "answer", assignment: place.assignment, item: item.id,
                answer: answer.value, language: place.language};
  return SurveyappQueue.add(config, meta, fields).then(function () {
    if (number < place.items.length) { return redirect("/kiosk/" + position + "/" + (number + 1)); }
    return SurveyappQueue.add(config, {kind: "submit", position: position},
      {kind: "submit", assignment: place.assignment, language: place.language})
      .then(function () { return redirect("/kiosk/" + position + "/tak"); });
  });
}

function offlinePost(request) {
  var path = new URL(request.url).pathname;
  return Promise.all([request.formData().catch(function () { return new FormData(); }),
                      runnerData()]).then(function (found) {
    var form = found[0];
    var data = found[1];
    if (!data) { return Response.error(); }
    var match = path.match(/^\/kiosk\/([0-9]{1,3})\/([0-9]{1,3})$/);
    if (match && data.state === "answering") {
      return queueAnswer(data, Number(match[1]), Number(match[2]), form);
    }
    match = path.match(/^\/kiosk\/([0-9]{1,3})\/start$/);
    if (match) { return redirect("/kiosk/?begin=" + match[1]); }
    if ((path === "/kiosk/pause" || path === "/kiosk/idle") && data.state === "answering") {
      var config = SurveyappQueue.configOf(data);
      var reason = path === "/kiosk/idle" ? "idle" : "pause";
      return SurveyappQueue.add(config, {kind: "handback"}, {kind: "handback", reason: reason})
        .then(function () { return redirect("/kiosk/?handback=" + reason); });
    }
    if (path === "/visning/tekst") {
      var next = String(form.get("next") || "/kiosk/");
      var size = String(form.get("size") || "");
      if (next.indexOf("/kiosk/") !== 0) { next = "/kiosk/"; }
      return redirect(next + (/^[123]$/.test(size) ? "#size=" + size : ""));
    }
    return redirect("/kiosk/");
  });
}

function navigate(request) {
  var copy = request.method === "POST" ? request.clone() : null;
  return withTimeout(request).catch(function () {
    return copy ? offlinePost(copy) : runner();
  });
}

/* The citizen's kiosk pages (not the staff's: starting a visit, the PIN setting, the summary). */
function kioskPage(url) {
  var path = url.pathname;
  /* The text size: the browser's own request while online (the offline page sets the size
     itself); only a server page whose connection is gone needs the way back. */
  if (path === "/visning/tekst") { return !self.navigator.onLine; }
  return path.indexOf("/kiosk/") === 0 &&
    !/^\/kiosk\/(sync|app\/|start$|pin-kode$|besog\/)/.test(path);
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    if (kioskPage(url)) { event.respondWith(navigate(request)); }
    return;
  }
  var path = url.pathname;
  if (request.method === "GET" && (path.indexOf("/static/") === 0 ||
      path.indexOf("/kiosk/app/") === 0 || path === "/kiosk/manifest.webmanifest")) {
    event.respondWith(fetch(request).catch(function () {
      return caches.match(request, {ignoreSearch: true}).then(function (r) {
        return r || Response.error();
      });
    }));
  }
});
