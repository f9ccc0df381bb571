// Progressive enhancement of the signup form. Without this script the form works as a
// plain HTML form; with it, the visitor hears about a mistake as soon as they leave the
// field, and the form is sent with fetch so a mistake found by the server comes back
// without a page load. Every message comes from the page, which the server rendered from
// the same catalogue it uses for its own checks, so both always say the same words.
(function () {
  "use strict";

  if (!window.fetch || !window.FormData || !window.DOMParser) {
    return;
  }

  var EMAIL = /^[^\s@]+@[^\s@.][^\s@]*\.[^\s@]*[^\s@.]$/;
  var PHONE = /^\+?[0-9 ().-]+$/;
  var COUNTRY = /^[A-Za-z]{2}$/;
  var NUMBER = /^[0-9]{1,4}$/;

  function trimmed(input) {
    return input.value.replace(/^\s+|\s+$/g, "");
  }

  // The parts of an optional address become required once any part is filled.
  function addressInUse(input) {
    var group = input.closest("[data-group='address']");
    if (!group) {
      return false;
    }
    if (group.getAttribute("data-required") === "true") {
      return true;
    }
    return Array.prototype.some.call(group.querySelectorAll("input"), function (part) {
      return trimmed(part) !== "";
    });
  }

  function isRequired(input) {
    if (input.required) {
      return true;
    }
    var part = input.closest("[data-part]");
    return !!part && part.getAttribute("data-part") === "required" && addressInUse(input);
  }

  // The problem with one text input or text area, or "" when there is none. The order of
  // the checks is the server's, so the first message is the one it would give.
  function problemWith(input) {
    var value = trimmed(input);
    var data = input.dataset;
    if (value === "") {
      return isRequired(input) ? data.msgRequired || "" : "";
    }
    var max = parseInt(data.maxlength || "0", 10);
    // String length counts UTF-16 units, as Clover does.
    var length = input.tagName === "TEXTAREA" ? value.replace(/\r\n/g, "\n").length : value.length;
    if (data.check === "email") {
      if (/\s/.test(value) || !EMAIL.test(value)) {
        return data.msgInvalid;
      }
      if (max && length > max) {
        return data.msgTooLong;
      }
      return "";
    }
    if (data.check === "phone") {
      if (!PHONE.test(value) || value.indexOf("+", 1) !== -1) {
        return data.msgInvalid;
      }
      var digits = value.replace(/[^0-9]/g, "").length;
      return digits < 7 || digits > 15 ? data.msgExtra : "";
    }
    if (data.check === "country") {
      return COUNTRY.test(value) ? "" : data.msgInvalid;
    }
    if (max && length > max) {
      return data.msgTooLong;
    }
    return "";
  }

  function daysIn(month, year) {
    if (month === 2) {
      var leap = !year || (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0));
      return leap ? 29 : 28;
    }
    return [4, 6, 9, 11].indexOf(month) !== -1 ? 30 : 31;
  }

  // The birthday is right or wrong as a whole, as on the server.
  function birthdayProblem(group) {
    var data = group.dataset;
    var day = trimmed(group.querySelector("[name='birthday_day']"));
    var month = trimmed(group.querySelector("[name='birthday_month']"));
    var year = trimmed(group.querySelector("[name='birthday_year']"));
    if (day === "" && month === "" && year === "") {
      return data.required === "true" ? data.msgRequired : "";
    }
    if (day === "" || month === "") {
      return data.msgRequired;
    }
    if (!NUMBER.test(day) || !NUMBER.test(month) || (year !== "" && !NUMBER.test(year))) {
      return data.msgNumbers;
    }
    var y = year === "" ? 0 : parseInt(year, 10);
    if (year !== "" && (year.length !== 4 || y < +data.yearMin || y > +data.yearMax)) {
      return data.msgYear;
    }
    var d = parseInt(day, 10);
    var m = parseInt(month, 10);
    if (m < 1 || m > 12 || d < 1 || d > daysIn(m, y)) {
      return data.msgDate;
    }
    return "";
  }

  // What an error is shown beside, and what carries aria-invalid.
  function targetOf(element) {
    var group = element.closest("[data-check='birthday']");
    if (group) {
      return {
        box: group,
        name: "birthday",
        anchor: "birthday_day",
        inputs: group.querySelectorAll("input"),
        before: group.querySelector(".date-input"),
        described: group,
      };
    }
    return {
      box: element.closest(".field"),
      name: element.name,
      anchor: element.id,
      inputs: [element],
      before: element,
      described: element,
    };
  }

  function setDescribedBy(element, errorId, on) {
    var ids = (element.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id !== errorId;
    });
    if (on) {
      ids.push(errorId);
    }
    if (ids.length) {
      element.setAttribute("aria-describedby", ids.join(" "));
    } else {
      element.removeAttribute("aria-describedby");
    }
  }

  // Shows or clears one error, with the same markup the server renders.
  function showError(form, target, message) {
    var errorId = target.name + "-error";
    var existing = document.getElementById(errorId);
    if (existing) {
      existing.parentNode.removeChild(existing);
    }
    target.box.classList.toggle("field-invalid", !!message);
    Array.prototype.forEach.call(target.inputs, function (input) {
      if (message) {
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
      }
    });
    setDescribedBy(target.described, errorId, !!message);
    if (!message) {
      return;
    }
    var error = document.createElement("p");
    error.className = "field-error";
    error.id = errorId;
    var prefix = document.createElement("span");
    prefix.className = "visually-hidden";
    prefix.textContent = form.dataset.msgErrorPrefix + " ";
    error.appendChild(prefix);
    error.appendChild(document.createTextNode(message));
    target.before.parentNode.insertBefore(error, target.before);
  }

  function check(form, element) {
    var group = element.closest("[data-check='birthday']");
    var message = group ? birthdayProblem(group) : problemWith(element);
    var target = targetOf(element);
    showError(form, target, message);
    return { message: message, anchor: target.anchor, name: target.name };
  }

  function checkAll(form) {
    var problems = [];
    var seen = {};
    Array.prototype.forEach.call(form.querySelectorAll("input[data-msg-required], textarea, [data-check='birthday'] input"), function (element) {
      var result = check(form, element);
      if (result.message && !seen[result.name]) {
        seen[result.name] = true;
        problems.push(result);
      }
    });
    return problems;
  }

  function showSummary(root, form, problems) {
    var old = root.querySelector(".error-summary");
    if (old) {
      old.parentNode.removeChild(old);
    }
    if (!problems.length) {
      return null;
    }
    var summary = document.createElement("div");
    summary.className = "error-summary";
    summary.setAttribute("role", "alert");
    summary.setAttribute("aria-labelledby", "error-summary-title");
    summary.tabIndex = -1;
    var heading = document.createElement("h2");
    heading.id = "error-summary-title";
    heading.textContent = form.dataset.msgSummaryTitle;
    summary.appendChild(heading);
    var list = document.createElement("ul");
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#" + problem.anchor;
      link.textContent = problem.message;
      item.appendChild(link);
      list.appendChild(item);
    });
    summary.appendChild(list);
    form.parentNode.insertBefore(summary, form);
    return summary;
  }

  function showNotice(root, form, message) {
    var notice = root.querySelector(".notice");
    if (!notice) {
      notice = document.createElement("div");
      notice.className = "notice";
      notice.setAttribute("role", "alert");
      notice.tabIndex = -1;
      form.parentNode.insertBefore(notice, root.querySelector(".error-summary") || form);
    }
    notice.textContent = "";
    var text = document.createElement("p");
    text.textContent = message;
    notice.appendChild(text);
    notice.focus();
  }

  // A link in the summary moves focus to its field, not only the view.
  function followSummaryLinks(root) {
    root.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest(".error-summary a");
      if (!link) {
        return;
      }
      var field = document.getElementById(link.getAttribute("href").slice(1));
      if (field) {
        event.preventDefault();
        field.focus();
      }
    });
  }

  // Puts the server's answer in place of the form, as if the page had loaded it.
  function replaceWith(root, form, html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var fresh = page.querySelector("[data-form-root]");
    if (fresh) {
      document.title = page.title;
      var adopted = document.importNode(fresh, true);
      root.parentNode.replaceChild(adopted, root);
      enhance(adopted);
      var turnstile = adopted.querySelector(".cf-turnstile");
      if (turnstile && window.turnstile) {
        window.turnstile.render(turnstile);
      }
      var first = adopted.querySelector(".error-summary, .notice");
      if (first) {
        first.focus();
      }
      return;
    }
    // Not the form: a failure on our side. Keep the form and everything typed in it, and
    // say what happened with the words (and reference) of the page the server sent.
    var message = form.dataset.msgServerError;
    var card = page.querySelector("main .card");
    if (card) {
      var lines = Array.prototype.slice.call(card.querySelectorAll("p"), 0, -1)
        .map(function (p) { return p.textContent.replace(/\s+/g, " ").trim(); })
        .filter(function (line) { return line !== ""; });
      if (lines.length) {
        message = lines.join(" ");
      }
    }
    showNotice(root, form, message);
  }

  function enhance(root) {
    var form = root.querySelector("form.signup-form");
    if (!form || form.dataset.enhanced) {
      return;
    }
    form.dataset.enhanced = "true";
    followSummaryLinks(root);

    // Errors appear when a visitor leaves a field, and clear as soon as it is fixed.
    form.addEventListener("focusout", function (event) {
      var element = event.target;
      if (!element.matches || !element.matches("input[type='text'], input[type='email'], input[type='tel'], textarea")) {
        return;
      }
      // The honeypot is no field of the visitor's.
      if (element.closest(".hp")) {
        return;
      }
      var group = element.closest("[data-check='birthday']");
      // Moving between the birthday's boxes is not leaving the birthday.
      if (group && group.contains(event.relatedTarget)) {
        return;
      }
      check(form, element);
    });
    form.addEventListener("input", function (event) {
      var element = event.target;
      var box = element.closest && element.closest(".field-invalid");
      if (box) {
        check(form, element);
      }
    });

    var sending = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) {
        return;
      }
      var problems = checkAll(form);
      var summary = showSummary(root, form, problems);
      if (summary) {
        document.title = form.dataset.pageTitleError || document.title;
        summary.focus();
        return;
      }
      var button = form.querySelector("button[type='submit']");
      var label = button ? button.textContent : "";
      sending = true;
      form.setAttribute("aria-busy", "true");
      if (button) {
        button.disabled = true;
        button.textContent = form.dataset.msgSending;
      }
      var done = function () {
        sending = false;
        form.removeAttribute("aria-busy");
        if (button) {
          button.disabled = false;
          button.textContent = label;
        }
      };
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
        // A stored signup answers 303; the visitor then goes where the plain form would.
        redirect: "manual",
        headers: { Accept: "text/html" },
      })
        .then(function (response) {
          if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
            window.location.assign(form.dataset.success);
            return;
          }
          return response.text().then(function (html) {
            done();
            replaceWith(root, form, html);
          });
        })
        .catch(function () {
          done();
          showNotice(root, form, form.dataset.msgNetwork);
        });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-form-root]"), enhance);
})();
