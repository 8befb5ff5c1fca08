/* The Rewards tab: a header checkbox selects (or clears) every reward checkbox on the page. Without JavaScript
   each reward is still selected one by one. */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (all) {
      var form = all.form || document;
      form.querySelectorAll('input[type=checkbox][name="' + all.dataset.selectAll + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
      return;
    }
    var box = event.target;
    if (box.type !== "checkbox" || !box.form) return;
    var header = box.form.querySelector('[data-select-all="' + box.name + '"]');
    if (!header) return;
    var boxes = box.form.querySelectorAll('input[type=checkbox][name="' + box.name + '"]');
    var checked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
    header.checked = checked === boxes.length;
    header.indeterminate = checked > 0 && checked < boxes.length;
  });
})();
