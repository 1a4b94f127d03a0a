// Receive channel form: when the built-in template changes, show its values as the
// placeholders of the override boxes (the server renders the right ones on every load).
(function () {
  "use strict";
  var data = document.getElementById("builtin-templates");
  var select = document.getElementById("id_base_template");
  if (!data || !select) return;
  var templates = JSON.parse(data.textContent);
  select.addEventListener("change", function () {
    var fields = templates[select.value] || {};
    Object.keys(fields).forEach(function (field) {
      var box = document.getElementById("id_" + field + "_template");
      if (box) box.placeholder = fields[field];
    });
  });
})();
