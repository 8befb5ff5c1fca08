// Behaviour that would otherwise be inline (the Content-Security-Policy allows no inline script or style):
// - data-confirm="Question?" on a form or its submit button asks before submitting;
// - data-percent="42" on a progress bar's fill sets its width (also after htmx swaps it in);
// - data-send-once on a form ignores a second submit while the first is on its way: the public forms' token
//   works for one post, so a double click would otherwise show the refusal of the second one.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.hasAttribute("data-send-once")) return;
    if (form.dataset.sending) {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "1";
  });

  function applyWidths(root) {
    var bars = (root.querySelectorAll ? root : document).querySelectorAll("[data-percent]");
    bars.forEach(function (bar) {
      var percent = Math.max(0, Math.min(100, Number(bar.dataset.percent) || 0));
      bar.style.width = percent + "%";
    });
  }

  document.addEventListener("DOMContentLoaded", function () { applyWidths(document); });
  document.addEventListener("htmx:load", function (event) { applyWidths(event.target); });
})();
