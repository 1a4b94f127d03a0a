// Copy buttons: <button data-copy-target="input-id">. Without JS (or clipboard access) the
// button stays hidden and the readonly input's text can be selected and copied by hand.
(function () {
  "use strict";

  function say(text) {
    var status = document.getElementById("copy-status");
    if (status) status.textContent = text;
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.clipboard) return;
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var input = document.getElementById(button.getAttribute("data-copy-target"));
        if (!input) return;
        navigator.clipboard.writeText(input.value).then(
          function () { say("Copied to the clipboard."); },
          function () {
            input.select();
            say("Could not copy: the key is selected, copy it by hand.");
          }
        );
      });
    });
  });

  // Focusing the readonly key selects it whole, for copying by hand.
  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (target instanceof HTMLInputElement && target.readOnly && target.classList.contains("secret")) {
      target.select();
    }
  });
})();
