// Escalation policy editor: drag steps to reorder (SortableJS from npm). The drop POSTs the
// new order; the Move up/down buttons do the same without JavaScript.
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setStatus(text) {
    var status = document.getElementById("reorder-status");
    if (status) status.textContent = text;
  }

  function saveOrder(list) {
    var body = new URLSearchParams();
    list.querySelectorAll("li[data-step-id]").forEach(function (item) {
      body.append("step", item.getAttribute("data-step-id"));
    });
    setStatus("Saving the new order…");
    fetch(list.getAttribute("data-reorder-url"), {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      body: body,
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      // Reload so the numbering, arrows and descriptions match the saved order.
      window.location.reload();
    }).catch(function () {
      setStatus("The new order was not saved (the steps may have changed). Reload the page.");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("policy-steps");
    if (!list || !list.getAttribute("data-reorder-url") || !window.Sortable) return;
    window.Sortable.create(list, {
      handle: ".drag-handle",
      animation: 150,
      // Pointer events instead of native HTML5 drag and drop: same behaviour on touch screens.
      forceFallback: true,
      onEnd: function (event) {
        if (event.oldIndex !== event.newIndex) saveOrder(list);
      },
    });
  });
})();
