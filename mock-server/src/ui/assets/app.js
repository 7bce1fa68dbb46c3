// acd-mock dashboard: live updates on top of pages that work without this script.
// Builds every row with textContent (never innerHTML), so names stay text.
"use strict";

(function () {
  function live(text) {
    var el = document.getElementById("live");
    if (el) { el.textContent = text; }
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function requestRow(e) {
    var tr = document.createElement("tr");
    tr.dataset.seq = String(e.seq);
    var first = document.createElement("td");
    var a = document.createElement("a");
    a.className = "open";
    a.href = "/_mock/ui/requests/" + encodeURIComponent(String(e.seq));
    a.textContent = String(e.seq);
    first.appendChild(a);
    tr.appendChild(first);
    cell(tr, e.time || "");
    cell(tr, e.method || "");
    cell(tr, e.query ? e.path + "?" + e.query : e.path, "path");
    cell(tr, e.operation || "");
    cell(tr, e.account || "");
    cell(tr, e.scope || "");
    var s = e.status;
    cell(tr, String(s), s === 0 || s >= 500 ? "s5" : s >= 400 ? "s4" : "s2");
    cell(tr, (e.durationMs || 0).toFixed(1));
    cell(tr, e.fault || "");
    tr.classList.add("new");
    return tr;
  }

  function followRequests(table) {
    var body = table.tBodies[0];
    var source = new EventSource(table.dataset.events);
    source.addEventListener("open", function () { live("live"); });
    source.addEventListener("error", function () { live("reconnecting…"); });
    source.addEventListener("request", function (msg) {
      var e = JSON.parse(msg.data);
      if (body.querySelector('tr[data-seq="' + e.seq + '"]')) { return; }
      body.insertBefore(requestRow(e), body.firstChild);
      var empty = document.getElementById("empty");
      if (empty) { empty.remove(); }
      while (body.rows.length > 500) { body.deleteRow(body.rows.length - 1); }
    });
    source.addEventListener("lagged", function (msg) {
      live("live (missed " + msg.data + " requests: reload for all)");
    });
  }

  function followRules() {
    var pending = false;
    function refresh() {
      pending = false;
      fetch("/_mock/faults", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (faults) {
          (faults.rules || []).forEach(function (rule) {
            document.querySelectorAll("#rules tr[data-rule]").forEach(function (tr) {
              if (tr.dataset.rule !== rule.id) { return; }
              tr.querySelector(".matches").textContent = String(rule.matches);
              tr.querySelector(".fired").textContent = String(rule.fired);
            });
          });
          var phantoms = document.getElementById("phantoms");
          if (phantoms) { phantoms.textContent = String(faults.pendingPhantoms); }
        })
        .catch(function () { live("could not refresh the counts"); });
    }
    var source = new EventSource("/_mock/events");
    source.addEventListener("open", function () { live("counts update live"); refresh(); });
    source.addEventListener("error", function () { live("reconnecting…"); });
    source.addEventListener("request", function () {
      if (!pending) { pending = true; setTimeout(refresh, 200); }
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var el = document.getElementById(button.dataset.copy);
        if (!el) { return; }
        var text = el.textContent;
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { select(el); });
        } else {
          select(el);
        }
      });
    });
  }

  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("requests");
    if (table && window.EventSource) { followRequests(table); }
    if (document.body.dataset.page === "faults" && window.EventSource) { followRules(); }
    copyButtons();
  });
})();
