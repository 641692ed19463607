// An environment's metrics charts (server/dashboard/charts.py): one uPlot chart per series in
// the page's #metrics-data JSON. No inline script: the page's Content-Security-Policy allows
// scripts from /static only.
(function () {
  "use strict";
  var data = document.getElementById("metrics-data");
  if (!data || typeof uPlot === "undefined") return;
  JSON.parse(data.textContent).forEach(function (c) {
    var el = document.getElementById("chart-" + c.key);
    if (!el || !c.at.length) return;
    var width = Math.max(280, Math.min(el.clientWidth || 320, 900));
    var opts = {
      width: width, height: 160,
      series: [{}, { label: c.title + " (" + c.unit + ")", stroke: "#0969da", width: 2 }],
    };
    new uPlot(opts, [c.at, c.values], el);
    el.dataset.drawn = "yes";
  });
})();
