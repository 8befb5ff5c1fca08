// The referrer's page: "Copy" buttons for the referral link and code (templates/portal/page.html).
// Progressive enhancement: the buttons are hidden until this runs and the clipboard can be written; without it the
// link is plain selectable text in a read-only field. No inline script: the Content-Security-Policy allows none.
(function () {
  "use strict";

  function textOf(element) {
    return element.value !== undefined ? element.value : element.textContent.trim();
  }

  function copied(button, status, ok) {
    status.textContent = ok ? button.textContent.replace(/^Copy /, "Copied your ") + "." : "Select the text and copy it.";
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.clipboard || !window.isSecureContext) {
      return;  // the clipboard API needs https (or localhost): the text stays selectable
    }
    var status = document.querySelector(".copy-status");
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.dataset.copy);
      if (!source) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(textOf(source)).then(
          function () { copied(button, status, true); },
          function () { copied(button, status, false); }
        );
      });
    });
  });
})();
