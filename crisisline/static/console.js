// Live consoles: parts of a page marked data-refresh-on="<event>" are fetched again from
// their data-refresh-url when the server pushes that event over Socket.IO (/console).
// A part with data-contact-id or data-case-id refreshes only for events about that record.
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-refresh-on]");
  if (!parts.length || typeof io === "undefined") { return; }
  var socket = io("/console", { transports: ["websocket", "polling"] });
  var events = {};
  parts.forEach(function (part) {
    part.getAttribute("data-refresh-on").split(" ").forEach(function (name) {
      (events[name] = events[name] || []).push(part);
    });
  });
  function concerns(part, payload) {
    var contact = part.getAttribute("data-contact-id");
    var kase = part.getAttribute("data-case-id");
    if (contact && String(payload.contact_id) !== contact) { return false; }
    if (kase && String(payload.case_id) !== kase) { return false; }
    return true;
  }
  function refresh(part) {
    fetch(part.getAttribute("data-refresh-url"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { part.innerHTML = html; } });
  }
  Object.keys(events).forEach(function (name) {
    socket.on(name, function (payload) {
      events[name].forEach(function (part) { if (concerns(part, payload || {})) { refresh(part); } });
    });
  });
  socket.on("connect", function () { document.body.setAttribute("data-live", "connected"); });
  socket.on("disconnect", function () { document.body.setAttribute("data-live", "disconnected"); });
})();
