// A deployment's page, live: its events, steps and (for a canary) charts, from the server-sent
// events of /deployments/<id>/stream (server/dashboard/stream.py). No inline script: the
// page's Content-Security-Policy allows scripts from /static only.
(function () {
  "use strict";
  var box = document.getElementById("deployment");
  if (!box) return;
  var id = box.dataset.id;
  var events = document.getElementById("events");
  var steps = document.querySelector("#steps tbody");
  var statusEl = document.getElementById("status");
  var problem = document.getElementById("problem");

  function cell(text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function onStep(e) {
    var li = document.createElement("li");
    var at = new Date(e.at * 1000).toLocaleTimeString();
    li.textContent = at + " " + e.step + " " + e.status + (e.message ? ": " + e.message : "");
    li.dataset.step = e.step;
    events.appendChild(li);
    if (e.status === "info") return;
    var row = steps.querySelector('tr[data-step="' + CSS.escape(e.step) + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.step = e.step;
      row.append(cell(e.step), cell(""), cell(""), cell(""));
      steps.appendChild(row);
    }
    row.children[1].textContent = e.status;
    row.children[1].className = "result " + e.status;
    if (e.message) row.children[3].textContent = e.message;
  }

  // the canary's charts ---------------------------------------------------------------------
  var charts = null;
  var series = { at: [], weight: [], rpsC: [], rpsS: [], errC: [], errS: [], p95C: [], p95S: [] };
  var pending = {};
  function chart(elId, labels, data) {
    var el = document.getElementById(elId);
    var width = Math.max(280, el.clientWidth || 320);
    var opts = { width: width, height: 160, series: [{}] };
    var colours = ["#cf222e", "#0969da"];
    labels.forEach(function (label, i) { opts.series.push({ label: label, stroke: colours[i] }); });
    return new uPlot(opts, data, el);
  }
  function draw() {
    var s = series;
    var data = {
      weight: [s.at, s.weight], rps: [s.at, s.rpsC, s.rpsS],
      errors: [s.at, s.errC, s.errS], p95: [s.at, s.p95C, s.p95S],
    };
    if (!charts) {
      if (typeof uPlot === "undefined") return;
      charts = {
        weight: chart("chart-weight", ["weight"], data.weight),
        rps: chart("chart-rps", ["canary", "stable"], data.rps),
        errors: chart("chart-errors", ["canary", "stable"], data.errors),
        p95: chart("chart-p95", ["canary", "stable"], data.p95),
      };
      return;
    }
    Object.keys(charts).forEach(function (k) { charts[k].setData(data[k]); });
  }
  function onSample(x) {
    var row = pending[x.at] || (pending[x.at] = {});
    row[x.role] = x;
    if (!row.canary || !row.stable) return;
    delete pending[x.at];
    var c = row.canary, st = row.stable;
    var rate = function (r) { return r.requests ? (100 * r.errors) / r.requests : 0; };
    series.at.push(x.at); series.weight.push(c.weight);
    series.rpsC.push(c.rps); series.rpsS.push(st.rps);
    series.errC.push(rate(c)); series.errS.push(rate(st));
    series.p95C.push(c.p95_ms); series.p95S.push(st.p95_ms);
    if (document.getElementById("chart-weight")) draw();
  }

  function onDone(r) {
    statusEl.textContent = r.status;
    statusEl.className = "result " + r.status;
    box.dataset.finished = "yes";
    if (r.error) {
      problem.textContent = "";
      var p = document.createElement("p");
      p.textContent = r.error;
      problem.appendChild(p);
      if (r.hint) {
        var h = document.createElement("p");
        h.className = "hint";
        h.textContent = "Try: " + r.hint;
        problem.appendChild(h);
      }
    }
  }

  var source = new EventSource("/deployments/" + id + "/stream");
  source.addEventListener("step", function (m) { onStep(JSON.parse(m.data)); });
  source.addEventListener("sample", function (m) { onSample(JSON.parse(m.data)); });
  source.addEventListener("done", function (m) { onDone(JSON.parse(m.data)); source.close(); });
})();
