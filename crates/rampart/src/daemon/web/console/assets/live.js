// Rampart console: the live feed. Opens /api/v1/events (server-sent
// events, the session cookie authenticates it) and puts each event at the
// top of the table. Text only (textContent), never markup.
"use strict";
(function () {
  var KINDS = ["attack", "ban_decided", "ban_applied", "ban_failed", "unblocked", "source",
    "lifecycle", "reload_refused", "refresh_failed", "console_login", "self_unblock"];
  var MAX_ROWS = 500;
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text || "";
    tr.appendChild(td);
    return td;
  }
  function row(ev) {
    var tr = document.createElement("tr");
    tr.className = "fresh ev-" + ev.kind;
    cell(tr, (ev.time || new Date().toISOString()).slice(11, 19), "nowrap");
    var kind = cell(tr, "");
    var tag = document.createElement("span");
    tag.className = "tag ev";
    tag.textContent = ev.kind.replace(/_/g, " ");
    kind.appendChild(tag);
    var addr = cell(tr, "", "mono");
    if (ev.target) {
      var a = document.createElement("a");
      a.href = "/address?addr=" + encodeURIComponent(ev.target);
      a.textContent = ev.target;
      addr.appendChild(a);
    }
    cell(tr, (ev.reason || "") + (ev.rule ? " " + ev.rule : ""));
    cell(tr, (ev.text || "") + (ev.by ? " by " + ev.by : ""));
    return tr;
  }
  function start() {
    var body = document.querySelector("#feed tbody");
    var state = document.getElementById("live-state");
    if (!body || !window.EventSource) return;
    var es = new EventSource("/api/v1/events");
    es.onopen = function () { state.textContent = "Connected: new events appear at the top."; };
    es.onerror = function () { state.textContent = "Disconnected; retrying…"; };
    function add(msg) {
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      var empty = body.querySelector("tr.empty");
      if (empty) empty.remove();
      body.insertBefore(row(ev), body.firstChild);
      while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
    }
    KINDS.forEach(function (k) { es.addEventListener(k, add); });
    es.addEventListener("lagged", function (m) {
      state.textContent = "Too fast to show: " + m.data + " event(s) skipped.";
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
