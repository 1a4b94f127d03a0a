// Incident pages: keep the list's selection while it refreshes, select-all, let htmx show
// refused actions (HTTP 422 carries the refreshed fragment with the error message), refresh
// the incident page live without losing what someone is typing, and the keyboard shortcuts
// of the incident page.
(function () {
  "use strict";

  function selected() {
    return document.querySelectorAll(".incident-select:checked");
  }

  // The rows refresh on live updates (live.js); while anything is selected, skip the refresh
  // so the selection survives, and catch up once the boxes are cleared.
  var rowsBehind = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "incident-rows" && selected().length > 0) {
      event.preventDefault();
      rowsBehind = true;
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
    var rows = document.getElementById("incident-rows");
    if (rowsBehind && rows && selected().length === 0) {
      rowsBehind = false;
      window.htmx.trigger(rows, "live");
    }
  });

  // --- the incident page, live ---------------------------------------------------------------
  // A change refreshes #incident-body whole, unless someone is at work in it: while a control
  // in it has focus or typed input, only its parts that hold neither are replaced (the state,
  // the top actions, the details, more actions, the timeline: whichever is not in use), and
  // the rest follows once focus leaves. What someone types is never replaced.
  var PARTS = [
    "incident-strip",
    "incident-top-actions",
    "incident-facts",
    "incident-actions",
    "incident-timeline",
  ];
  var fetching = false;
  var again = false;
  var behind = false;

  function edited(control) {
    if (control.type === "hidden" || control.type === "submit" || control.type === "button") {
      return false;
    }
    if (control.type === "checkbox" || control.type === "radio") {
      return control.checked !== control.defaultChecked;
    }
    if (control.tagName === "SELECT" && control.multiple) {
      return Array.prototype.some.call(control.options, function (option) {
        return option.selected !== option.defaultSelected;
      });
    }
    if (control.tagName === "SELECT") {
      // A single select without a `selected` option shows its first one: that is no edit.
      var initial = Array.prototype.findIndex.call(control.options, function (option) {
        return option.defaultSelected;
      });
      return control.selectedIndex !== Math.max(initial, 0);
    }
    return control.value !== control.defaultValue;
  }

  function inUse(element) {
    var active = document.activeElement;
    if (active && active !== element && element.contains(active)) return true;
    return Array.prototype.some.call(element.querySelectorAll("input, select, textarea"), edited);
  }

  function replace(current, fresh) {
    current.replaceWith(fresh);
    window.htmx.process(fresh);
  }

  function applyIncident(html) {
    var current = document.getElementById("incident-body");
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("incident-body");
    if (!current || !fresh) return;
    if (!inUse(current)) {
      replace(current, document.adoptNode(fresh));
      behind = false;
      return;
    }
    behind = false;
    PARTS.forEach(function (id) {
      var part = document.getElementById(id);
      var next = fresh.querySelector("#" + id);
      if (!part || !next) return;
      if (inUse(part)) behind = true;
      else replace(part, document.adoptNode(next));
    });
  }

  function refreshIncident() {
    var current = document.getElementById("incident-body");
    if (!current) return;
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    fetch(current.dataset.liveSrc, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html) applyIncident(html); })
      .catch(function () {})
      .then(function () {
        fetching = false;
        if (again) {
          again = false;
          refreshIncident();
        }
      });
  }

  document.addEventListener("live", function (event) {
    if (event.target && event.target.id === "incident-body") refreshIncident();
  });
  // Catch up with what was held back once nothing in the page is in use any more.
  document.addEventListener("focusout", function () {
    if (!behind) return;
    setTimeout(function () {
      var current = document.getElementById("incident-body");
      if (behind && current && !inUse(current)) refreshIncident();
    }, 0);
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

  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) all.hidden = false;
  });
})();
