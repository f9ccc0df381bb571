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
  var origins = [];
  listed.split(" ").filter(Boolean).forEach(function (origin) {
    if (origin === "'self'") {
      origins.push(window.location.origin);
    } else if (origin.indexOf("://*.") === -1) {
      origins.push(origin);
    } else {
      // A wildcard (https://*.example.com) is no address to post to: the page that
      // frames this one is, when it is one of those the wildcard allows.
      var parent = framingOrigin();
      if (parent && matches(origin, parent)) {
        origins.push(parent);
      }
    }
  });

  // The origin of the page this one is framed in, as the browser reports it.
  function framingOrigin() {
    var ancestors = window.location.ancestorOrigins;
    if (ancestors && ancestors.length > 0) {
      return ancestors[0];
    }
    try {
      return document.referrer ? new URL(document.referrer).origin : "";
    } catch (e) {
      return "";
    }
  }

  // Whether `origin` is one `pattern` (scheme://*.domain[:port]) allows.
  function matches(pattern, origin) {
    var wanted = pattern.split("://*.");
    var found;
    try {
      found = new URL(origin);
    } catch (e) {
      return false;
    }
    return found.protocol === wanted[0] + ":" &&
      ("." + found.host).slice(-(wanted[1].length + 1)) === "." + wanted[1] &&
      found.host.length > wanted[1].length;
  }

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
