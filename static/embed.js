// Inside the merchant's iframe: tell the embedding page how tall this page is, so the
// iframe can fit it without a scroll bar, and when a signup is complete. Messages go to
// the origins FRAME_ANCESTORS allows to frame the page (data-parent-origins on this
// script, 'self' standing for this page's own), never to "any page": whoever frames the
// form must not learn that a visitor signed up unless the merchant named them.
(function () {
  "use strict";

  if (window.parent === window) {
    return;
  }
  var script = document.currentScript;
  var listed = (script && script.getAttribute("data-parent-origins")) || "'self'";
  var origins = listed.split(" ").filter(Boolean).map(function (origin) {
    return origin === "'self'" ? window.location.origin : origin;
  });

  // A parent on another origin does not receive what is addressed to one of the others.
  function tell(message) {
    origins.forEach(function (origin) {
      window.parent.postMessage(message, origin);
    });
  }

  var last = 0;

  function report() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      tell({ type: "clover-signup:resize", height: height });
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
    tell({ type: "clover-signup:complete" });
  }
})();
