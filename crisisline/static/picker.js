// Search-as-you-type pickers (templates/_picker.html): a person finds someone by name and
// the form posts that record's id from the hidden input. Results come from the picker's
// data-picker-url (a JSON {items: [{id, label}]} answer of the API, scoped by the server).
(function () {
  "use strict";
  function setUp(box) {
    var hidden = box.querySelector("input[type=hidden]");
    var search = document.createElement("input");
    search.type = "search";
    search.id = box.getAttribute("data-picker-id");
    search.className = "picker-search";
    search.autocomplete = "off";
    search.placeholder = box.getAttribute("data-picker-placeholder") || "";
    search.setAttribute("role", "combobox");
    search.setAttribute("aria-expanded", "false");
    search.value = box.getAttribute("data-picker-chosen") || "";
    var list = document.createElement("ul");
    list.className = "picker-results";
    list.id = search.id + "-results";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    search.setAttribute("aria-controls", list.id);
    var clear = document.createElement("button");
    clear.type = "button";
    clear.className = "picker-clear";
    clear.textContent = box.getAttribute("data-picker-clear") || "×";
    clear.hidden = !hidden.value;
    box.appendChild(search);
    box.appendChild(clear);
    box.appendChild(list);
    var timer = null, asked = 0;

    function show(items, message) {
      list.innerHTML = "";
      if (message) {
        var note = document.createElement("li");
        note.className = "muted";
        note.textContent = message;
        list.appendChild(note);
      }
      items.forEach(function (item) {
        var option = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.setAttribute("role", "option");
        button.textContent = item.label;
        button.addEventListener("click", function () { choose(item); });
        option.appendChild(button);
        list.appendChild(option);
      });
      list.hidden = false;
      search.setAttribute("aria-expanded", "true");
    }
    function close() {
      list.hidden = true;
      search.setAttribute("aria-expanded", "false");
    }
    function choose(item) {
      hidden.value = item.id;
      search.value = item.label;
      clear.hidden = false;
      close();
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function ask() {
      var q = search.value.trim();
      var url = box.getAttribute("data-picker-url");
      url += (url.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(q);
      var mine = ++asked;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { items: [] }; })
        .then(function (answer) {
          if (mine !== asked) { return; }  // a later keystroke has asked again
          var items = answer.items || [];
          if (!items.length) {
            show([], q.length < 2 ? box.getAttribute("data-picker-short")
                                  : box.getAttribute("data-picker-none"));
          } else {
            show(items, null);
          }
        });
    }
    search.addEventListener("input", function () {
      if (hidden.value) { hidden.value = ""; clear.hidden = true; }  // typed over: unchosen
      clearTimeout(timer);
      timer = setTimeout(ask, 250);
    });
    search.addEventListener("focus", function () { if (!hidden.value) { ask(); } });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { close(); }
      if (event.key === "Enter") {  // Enter picks the first match rather than posting
        var first = list.querySelector("button[role=option]");
        if (!list.hidden && first) { event.preventDefault(); first.click(); }
      }
    });
    clear.addEventListener("click", function () {
      hidden.value = "";
      search.value = "";
      clear.hidden = true;
      search.focus();
    });
    document.addEventListener("click", function (event) {
      if (!box.contains(event.target)) { close(); }
    });
  }
  document.querySelectorAll(".picker[data-picker-url]").forEach(setUp);
})();
