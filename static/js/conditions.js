// Condition editor: show only the inputs a row's type (and operation) uses. Without JS every
// input stays visible and the server still validates each row.
(function () {
  "use strict";

  function update(row) {
    var type = row.querySelector("select[name$='-type']");
    var operation = row.querySelector("select[name$='-operation']");
    var kind = type ? type.value : "";
    row.querySelectorAll("[data-for]").forEach(function (part) {
      part.hidden = part.getAttribute("data-for") !== kind;
    });
    var value = row.querySelector("[data-value]");
    if (value && kind === "filter" && operation) {
      value.hidden = operation.value === "exists" || operation.value === "not_exists";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-condition-row]").forEach(function (row) {
      update(row);
      row.addEventListener("change", function () { update(row); });
    });
  });
})();
