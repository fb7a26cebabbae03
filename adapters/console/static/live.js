// hookd console: the live view. It listens to the server-sent events of /console/live/events and
// puts each delivery at the top of the table, replacing its older row. No library, no build step.
(function () {
  "use strict";
  var table = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!table || !window.EventSource) {
    if (status) status.textContent = "This browser cannot show live updates; use the delivery logs.";
    return;
  }
  var body = table.tBodies[0];
  var rows = {};
  var max = 200;
  var source = new EventSource(table.getAttribute("data-source"));
  source.onopen = function () { status.textContent = "Live: waiting for deliveries."; };
  source.onerror = function () { status.textContent = "Reconnecting…"; };
  source.addEventListener("delivery", function (e) {
    var d = JSON.parse(e.data);
    var tr = document.createElement("tr");
    tr.setAttribute("data-delivery", d.id);
    [d.at, d.scope, d.eventName, d.status, d.result, String(d.attempts)].forEach(function (text, i) {
      var td = document.createElement("td");
      if (i === 3) {
        var span = document.createElement("span");
        span.className = "status " + d.status;
        span.textContent = text;
        td.appendChild(span);
      } else {
        td.textContent = text;
      }
      if (i === 5) td.className = "num";
      tr.appendChild(td);
    });
    var link = document.createElement("a");
    link.href = d.href;
    link.className = "mono";
    link.textContent = d.id;
    var cell = document.createElement("td");
    cell.appendChild(link);
    tr.appendChild(cell);
    if (rows[d.id]) body.removeChild(rows[d.id]);
    rows[d.id] = tr;
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > max) {
      var last = body.rows[body.rows.length - 1];
      delete rows[last.getAttribute("data-delivery")];
      body.removeChild(last);
    }
    status.textContent = "Live: last update at " + d.at + " UTC.";
  });
})();
