// Incident pages: keep the list's selection while it refreshes, select-all, let htmx show
// refused actions (HTTP 422 carries the refreshed fragment with the error message), and the
// keyboard shortcuts of the incident page.
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

  // Keyboard shortcuts on the incident page: a / r / e press the button that carries the
  // key in data-shortcut (only when the incident allows the action, so the button exists);
  // ? opens the list. Never while typing, and never with a modifier key held.
  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  function showShortcuts() {
    var dialog = document.getElementById("shortcuts-help");
    if (dialog && !dialog.open) dialog.showModal();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]")) return;
    if (event.key === "?") {
      if (document.getElementById("shortcuts-help")) {
        event.preventDefault();
        showShortcuts();
      }
      return;
    }
    var key = event.key && event.key.length === 1 ? event.key.toLowerCase() : "";
    if (!key || event.shiftKey) return;
    var button = document.querySelector('#incident-body [data-shortcut="' + key + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".shortcuts-open")) showShortcuts();
  });

  function revealShortcutButtons() {
    document.querySelectorAll(".shortcuts-open").forEach(function (button) {
      button.hidden = false;
    });
  }
  // The body is swapped after every action: show its button again.
  document.addEventListener("htmx:afterSwap", revealShortcutButtons);

  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) all.hidden = false;
    revealShortcutButtons();
  });
})();
