// Shared behaviour for htmx-enhanced pages; every form also works without this file.
(function () {
  "use strict";

  function showMessage(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message message-error";
    p.textContent = text;
    box.replaceChildren(p);
  }

  // A form marked data-swap-errors gets a 422 back as its own fragment with the server's
  // messages next to the fields (the input kept): swap it like a success.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status === 422 && elt && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // htmx does not swap other error responses: say what happened instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 403
      ? "You are not allowed to do that."
      : status === 404
        ? "That no longer exists. Reload the page."
        : "That did not work (HTTP " + status + "). Reload the page and try again.";
    showMessage(text);
  });
  document.addEventListener("htmx:sendError", function () {
    showMessage("Could not reach the server. Check your connection and try again.");
  });

  // Narrow screens fold the navigation behind a Menu button (CSS shows the button only below
  // the breakpoint, and only when this file runs). Escape closes the menu and puts the focus
  // back on the button; so does a click outside it.
  var navToggle = document.querySelector("[data-nav-toggle]");
  var navLinks = navToggle && document.getElementById(navToggle.getAttribute("aria-controls"));
  function navOpen() {
    return navToggle.getAttribute("aria-expanded") === "true";
  }
  function navSet(open) {
    navToggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
  if (navToggle && navLinks) {
    navToggle.addEventListener("click", function () {
      navSet(!navOpen());
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !navOpen()) return;
      navSet(false);
      navToggle.focus();
    });
    document.addEventListener("click", function (event) {
      if (navOpen() && !navToggle.contains(event.target) && !navLinks.contains(event.target)) {
        navSet(false);
      }
    });
  }

  // The Content-Security-Policy forbids style="" attributes, so the templates carry dynamic
  // positions and colours as data attributes and they are applied here through the CSSOM
  // (which the policy allows): timeline bars, ticks and the now line (data-left,
  // data-width: percentages) and label chips (data-label-color: #rrggbb). Content that
  // htmx or the live updates add later is styled as it arrives.
  var NUMBER = /^-?\d+(\.\d+)?$/;
  var COLOR = /^#[0-9a-fA-F]{6}$/;
  function applyDataStyles(root) {
    if (!root.querySelectorAll) return;
    var nodes = Array.prototype.slice.call(
      root.querySelectorAll("[data-left], [data-width], [data-label-color]")
    );
    if (root.matches && root.matches("[data-left], [data-width], [data-label-color]")) {
      nodes.push(root);
    }
    nodes.forEach(function (el) {
      var left = el.getAttribute("data-left");
      var width = el.getAttribute("data-width");
      var color = el.getAttribute("data-label-color");
      if (left !== null && NUMBER.test(left)) el.style.left = left + "%";
      if (width !== null && NUMBER.test(width)) el.style.width = width + "%";
      if (color !== null && COLOR.test(color)) el.style.setProperty("--label-color", color);
    });
  }
  applyDataStyles(document);
  new MutationObserver(function (mutations) {
    mutations.forEach(function (mutation) {
      mutation.addedNodes.forEach(applyDataStyles);
    });
  }).observe(document.body, { childList: true, subtree: true });

  // A schedule timeline wider than its box (on a phone) starts scrolled to the "now" line.
  document.querySelectorAll(".sched-timeline").forEach(function (box) {
    var now = box.querySelector(".tl-now");
    if (!now || box.scrollWidth <= box.clientWidth) return;
    var offset = now.getBoundingClientRect().left - box.getBoundingClientRect().left;
    box.scrollLeft = offset - box.clientWidth / 3;
  });

  // Keyboard users keep their place. htmx itself re-focuses an element whose id is in the
  // new content; when the focused element is gone (a removed row), focus the new content's
  // [data-focus-after-swap] element, else its first control.
  var pendingTargetId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    pendingTargetId = target && target.contains(document.activeElement) ? target.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!pendingTargetId) return;
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var fresh = document.getElementById(pendingTargetId);
    pendingTargetId = null;
    if (!fresh) return;
    var control =
      fresh.querySelector("[data-focus-after-swap]") ||
      fresh.querySelector("select, input:not([type=hidden]), button, a[href]");
    if (control) control.focus();
  });
})();
