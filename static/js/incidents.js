// Incident pages: keep the list's selection while it refreshes, select-all, and let htmx
// show refused actions (HTTP 422 carries the refreshed fragment with the error message).
(function () {
  "use strict";

  function selected() {
    return document.querySelectorAll(".incident-select:checked");
  }

  // The rows poll every 10 s; while anything is selected, skip the refresh so the
  // selection survives (it resumes once the boxes are cleared or the bulk form is sent).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "incident-rows" && selected().length > 0) {
      event.preventDefault();
      var status = document.getElementById("poll-status");
      if (status) status.textContent = "Live updates paused while incidents are selected.";
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "incident-rows") {
      var all = document.getElementById("select-all");
      if (all) all.checked = false;
      var status = document.getElementById("poll-status");
      if (status) status.textContent = "";
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-all") {
      document.querySelectorAll(".incident-select").forEach(function (box) {
        box.checked = target.checked;
      });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) all.hidden = false;
  });
})();
