/* clover-signup: the counter tablet. Goes back to an empty form after a while: on the
   thank-you screen after KIOSK_THANKS_SECONDS, on a form after KIOSK_IDLE_SECONDS without
   a touch or a key. location.replace leaves no history entry to go back to. Without
   JavaScript, a refresh in <noscript> does the same.
   A page reached with the back button (kept whole in the browser's back-forward cache, or
   loaded again with the inputs as they were left) would show the last customer's input:
   it is replaced by an empty form at once. */
(function () {
  "use strict";
  var script = document.currentScript;
  var after = Number(script.getAttribute("data-reset-after")) * 1000;
  var to = script.getAttribute("data-reset-to");
  var whileIdle = script.getAttribute("data-while-idle") === "true";
  if (!(after > 0) || !to) return;

  function reset() { window.location.replace(to); }

  window.addEventListener("pageshow", function (event) {
    var navigation = performance.getEntriesByType("navigation")[0];
    if (event.persisted || (navigation && navigation.type === "back_forward")) reset();
  });

  var timer = window.setTimeout(reset, after);
  if (!whileIdle) return;

  function touched() {
    window.clearTimeout(timer);
    timer = window.setTimeout(reset, after);
  }
  ["input", "change", "keydown", "pointerdown", "touchstart", "focusin"].forEach(function (type) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  });
})();
