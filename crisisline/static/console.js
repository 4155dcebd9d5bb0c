// Live consoles. Parts of a page marked data-refresh-on="<event> ..." are fetched again
// from their data-refresh-url when the server pushes one of those events on /console; a
// part with data-contact-id or data-case-id refreshes only for events about that record.
// A page with data-watch-case follows that case. After a dropped connection the console
// asks for what it missed since the last event id it saw, so no update is lost.
(function () {
  "use strict";
  if (typeof io === "undefined") { return; }
  var parts = document.querySelectorAll("[data-refresh-on]");
  var notices = document.querySelectorAll("[data-notice-on]");
  var watched = document.querySelector("[data-watch-case]");
  var seen = new Set();
  // the page was rendered as of this event; anything later is caught up on (re)connect
  var lastId = Number(document.body.getAttribute("data-last-event-id") || 0);
  var pending = new Set();
  var socket = io("/console");  // long-polling first, upgraded to WebSocket when it can

  function concerns(part, payload) {
    var contact = part.getAttribute("data-contact-id");
    var kase = part.getAttribute("data-case-id");
    if (contact && String(payload.contact_id) !== contact) { return false; }
    if (kase && String(payload.case_id) !== kase) { return false; }
    return true;
  }
  // A part with data-refresh-url is replaced by that fragment; a part without one (it
  // needs an id) by the element with the same id on this page fetched afresh.
  function refresh(part) {  // a burst of events refreshes a part once
    if (pending.has(part)) { return; }
    pending.add(part);
    setTimeout(function () {
      pending.delete(part);
      var url = part.getAttribute("data-refresh-url") || window.location.href;
      fetch(url, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          if (part.getAttribute("data-refresh-url")) { part.innerHTML = html; return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(part.id);
          if (fresh) { part.innerHTML = fresh.innerHTML; }
        });
    }, 150);
  }
  function handle(name, payload) {
    payload = payload || {};
    if (payload.event_id) {
      if (seen.has(payload.event_id)) { return; }
      seen.add(payload.event_id);
      if (payload.event_id > lastId) { lastId = payload.event_id; }
    }
    document.body.setAttribute("data-last-event", name);
    parts.forEach(function (part) {
      var wanted = part.getAttribute("data-refresh-on").split(" ");
      if (wanted.indexOf(name) !== -1 && concerns(part, payload)) { refresh(part); }
    });
    notices.forEach(function (notice) {  // "this changed: reload", where a form may be open
      if (notice.getAttribute("data-notice-on") === name && concerns(notice, payload)
          && !payload.replayed) { notice.hidden = false; }
    });
  }
  socket.onAny(handle);
  socket.on("connect", function () {
    document.body.setAttribute("data-live", "connected");
    if (watched) {
      socket.emit("watch_case", { case_id: Number(watched.getAttribute("data-watch-case")) });
    }
    socket.emit("catch_up", { last_event_id: lastId });
  });
  socket.on("disconnect", function () { document.body.setAttribute("data-live", "disconnected"); });
})();

// Offer countdowns: seconds left until an element's data-until time.
(function () {
  "use strict";
  function tick() {
    document.querySelectorAll(".countdown[data-until]").forEach(function (clock) {
      var left = Math.max(0, Math.round((Date.parse(clock.getAttribute("data-until")) - Date.now()) / 1000));
      clock.textContent = left + " " + (clock.getAttribute("data-unit") || "s");
    });
  }
  tick();
  setInterval(tick, 1000);
})();
