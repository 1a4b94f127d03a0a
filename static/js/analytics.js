// The analytics charts (Chart.js): each <canvas data-chart="ID"> is drawn from the JSON in
// <script type="application/json" id="ID">, the numbers the table after it is rendered from.
// The page works without this file: the tables carry everything.
(function () {
  "use strict";

  // Fixed colours, distinct for red-green colour blindness; the legend names every series.
  var COLORS = {
    high: "#c62828",
    low: "#1e88e5",
    incidents: "#1e88e5",
    mtta_seconds: "#f9a825",
    business: "#1e88e5",
    off: "#f9a825",
    sleep: "#6a1b9a"
  };

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "n/a";
    var total = Math.round(seconds);
    if (total < 60) return total + " s";
    var minutes = Math.floor(total / 60);
    if (minutes < 60) return minutes + " min " + (total % 60) + " s";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h " + (minutes % 60) + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  function scales(spec) {
    var result = {
      x: { stacked: spec.stacked },
      y: { stacked: spec.stacked, beginAtZero: true, ticks: { precision: 0 } }
    };
    var timed = spec.datasets.some(function (d) { return d.axis === "duration"; });
    if (timed) {
      result.duration = {
        position: "right",
        beginAtZero: true,
        grid: { drawOnChartArea: false },
        ticks: { callback: function (value) { return duration(value); } }
      };
    }
    return result;
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart === "undefined") return;
    var spec = JSON.parse(source.textContent);
    var datasets = spec.datasets.map(function (d) {
      return {
        label: d.label,
        data: d.data,
        backgroundColor: COLORS[d.key] || "#607d8b",
        yAxisID: d.axis === "duration" ? "duration" : "y",
        stack: spec.stacked ? "all" : d.key
      };
    });
    var reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduced ? false : { duration: 300 },
        scales: scales(spec),
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                var value = item.raw;
                var axis = spec.datasets[item.datasetIndex].axis;
                return item.dataset.label + ": " + (axis === "duration" ? duration(value) : value);
              }
            }
          }
        }
      }
    });
  }

  function themeDefaults() {
    // Axis text and grid lines follow the page's light or dark colours.
    var style = window.getComputedStyle(document.body);
    window.Chart.defaults.color = style.color;
    window.Chart.defaults.borderColor = "rgba(127, 127, 127, 0.25)";
  }

  // Typing a custom day chooses the custom range (the radios still work without this).
  function chooseCustomOnDate() {
    var custom = document.querySelector('input[name="range"][value="custom"]');
    document.querySelectorAll('.analytics-filters input[type="date"]').forEach(function (input) {
      input.addEventListener("input", function () { if (custom) custom.checked = true; });
    });
  }

  chooseCustomOnDate();
  if (typeof window.Chart !== "undefined") {
    themeDefaults();
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }
})();
