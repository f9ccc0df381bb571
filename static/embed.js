// Inside the merchant's iframe: tell the embedding page how tall this page is, so the
// iframe can fit it without a scroll bar, and when a signup is complete. Messages carry no
// personal data, only a height or an event name, so any embedding page may read them.
(function () {
  "use strict";

  if (window.parent === window) {
    return;
  }
  var last = 0;

  function report() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: "clover-signup:resize", height: height }, "*");
    }
  }

  if (window.ResizeObserver) {
    new ResizeObserver(report).observe(document.documentElement);
  } else {
    window.addEventListener("resize", report);
    setInterval(report, 500);
  }
  window.addEventListener("load", report);
  report();

  if (window.location.pathname === "/embed/thanks") {
    window.parent.postMessage({ type: "clover-signup:complete" }, "*");
  }
})();
