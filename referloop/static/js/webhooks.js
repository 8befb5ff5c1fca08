/* The Webhooks screens: copy the signing secret, and take its one-time page out of the history. */
(function () {
  "use strict";

  function announce(button, text) {
    var status = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (status) status.textContent = text;
  }

  function copyBySelecting(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try {
      return document.execCommand("copy");
    } catch (error) {
      return false;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var text = source.textContent.trim();
    var copied = function () { announce(button, "Copied."); };
    var selectOnly = function () {
      announce(button, copyBySelecting(source) ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(copied, selectOnly);
    } else {
      selectOnly();
    }
  });

  // The secret came in the answer to a POST. Point the address bar at the endpoint's own page, so a reload
  // shows the masked secret instead of sending the form again (a second endpoint, or a second rotation).
  var reveal = document.querySelector("[data-replace-url]");
  if (reveal && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", reveal.dataset.replaceUrl);
  }
})();
