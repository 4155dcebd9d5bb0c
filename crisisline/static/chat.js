/* The anonymous student chat (hotline/templates/hotline/chat.html): later messages and the
   hotline's replies over the /chat socket. The page's words come in data-word-* attributes
   of #chat, so no script is written into the page (the Content-Security-Policy allows none). */
(function () {
  "use strict";
  var chat = document.getElementById("chat");
  if (!chat) { return; }
  var list = document.getElementById("chat-transcript");
  var form = document.getElementById("chat-form");
  var box = document.getElementById("chat-body");
  var problem = document.getElementById("chat-error");
  var words = {you: chat.getAttribute("data-word-you"),
               hotline: chat.getAttribute("data-word-hotline"),
               ended: chat.getAttribute("data-word-ended")};
  function show(body, mine) {
    var item = document.createElement("li");
    item.className = mine ? "outbound" : "inbound";
    var who = document.createElement("span");
    who.className = "muted";
    who.textContent = mine ? words.you : words.hotline;
    var text = document.createElement("p");
    text.textContent = body;
    item.appendChild(who); item.appendChild(text); list.appendChild(item);
  }
  var socket = io("/chat");
  socket.on("chat.message", function (message) { show(message.body, false); });
  socket.on("chat.ended", function () {
    form.hidden = true;
    document.getElementById("chat-status").textContent = words.ended;
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = box.value.trim();
    if (!body) { return; }
    socket.emit("message", { body: body }, function (answer) {
      if (answer && answer.ok) { show(body, true); box.value = ""; problem.hidden = true; }
      else { problem.textContent = (answer && answer.error) || "…"; problem.hidden = false; }
    });
  });
})();
