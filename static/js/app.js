// Berth's only script: copy buttons, filters that apply themselves, and the small things that
// keep keyboards and phones first-class. No inline scripts anywhere (the Content-Security-Policy
// forbids them); everything works without JavaScript.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var live = function (text) {
    var region = document.getElementById("live-region");
    if (!region) return;
    region.textContent = "";
    // A fresh text node after a tick, so that screen readers announce a repeated message.
    setTimeout(function () { region.textContent = text; }, 50);
  };

  function copy(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      live("Copied to the clipboard");
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else {
      fallback(text);
      done();
    }
  }

  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-text]");
    if (!button) return;
    var text = button.getAttribute("data-copy-text");
    if (text) copy(text, button);
  });

  // Filters and sort menus apply themselves. A keyboard user moving through a menu with the
  // arrow keys must not reload the page on every step: a change made from the keyboard waits
  // for Enter or for the focus to leave; a click applies at once. After the reload, the focus
  // returns to the control the person was using.
  var FOCUS_KEY = "berth:focus";
  var fromKeyboard = false;
  var pending = null;

  document.addEventListener("keydown", function (event) {
    fromKeyboard = true;
    if (event.key === "Enter" && pending && event.target === pending) {
      event.preventDefault();
      submit(pending);
    }
  }, true);
  document.addEventListener("pointerdown", function () { fromKeyboard = false; }, true);

  function submit(control) {
    pending = null;
    var form = control.form;
    if (!form) return;
    if (control.id) {
      try { sessionStorage.setItem(FOCUS_KEY, control.id); } catch (e) { /* private mode */ }
    }
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  document.addEventListener("change", function (event) {
    var control = event.target.closest("[data-autosubmit]");
    if (!control) return;
    if (control.tagName === "SELECT" && fromKeyboard) {
      pending = control;  // applied on Enter or when the focus leaves
      return;
    }
    submit(control);
  });

  document.addEventListener("focusout", function (event) {
    if (pending && event.target === pending) submit(pending);
  });

  // The Markdown editor's live preview: the server's own sanitizing renderer, as typed.
  function csrfToken(element) {
    var form = element.closest("form");
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setUpPreview(pane) {
    var source = document.getElementById(pane.getAttribute("data-preview-of"));
    if (!source) return;
    var timer = null;
    var render = function () {
      var body = new URLSearchParams({ text: source.value });
      fetch(pane.getAttribute("data-preview-url"), {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(source), "Content-Type": "application/x-www-form-urlencoded" },
        body: body,
        credentials: "same-origin"
      }).then(function (response) { return response.json(); }).then(function (data) {
        if (data.html !== undefined) pane.innerHTML = data.html || '<p class="muted">Nothing to preview.</p>';
        else pane.textContent = data.error || "The preview could not be rendered.";
      }).catch(function () { pane.textContent = "The preview could not be rendered."; });
    };
    source.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(render, 500);
    });
    if (source.value.trim()) render();
  }

  // A new repository's name, checked as it is typed (the server has the last word).
  function setUpNameCheck(form) {
    var name = form.querySelector("[name=name]");
    var namespace = form.querySelector("[name=namespace]");
    var status = document.getElementById("name-status");
    if (!name || !namespace || !status) return;
    var timer = null;
    var check = function () {
      if (!name.value) { status.textContent = ""; return; }
      var full = namespace.value + "/" + name.value;
      fetch(form.getAttribute("data-name-check") + "?name=" + encodeURIComponent(full), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          status.textContent = data.ok ? full + " is free." : data.problem;
          status.className = "name-status " + (data.ok ? "name-ok" : "name-problem");
          name.setAttribute("aria-invalid", data.ok ? "false" : "true");
        });
    };
    var later = function () { clearTimeout(timer); timer = setTimeout(check, 250); };
    name.addEventListener("input", later);
    namespace.addEventListener("change", later);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-preview-of]").forEach(setUpPreview);
    document.querySelectorAll("form[data-name-check]").forEach(setUpNameCheck);
    var id = null;
    try {
      id = sessionStorage.getItem(FOCUS_KEY);
      sessionStorage.removeItem(FOCUS_KEY);
    } catch (e) { /* private mode */ }
    var target = id && document.getElementById(id);

    // Filters fold away behind a "Filters (n)" button on narrow screens, unless the person
    // was just using them.
    document.querySelectorAll("details[data-collapse-below]").forEach(function (details) {
      var width = parseInt(details.getAttribute("data-collapse-below"), 10);
      if (window.matchMedia("(max-width: " + width + "px)").matches && !(target && details.contains(target))) {
        details.removeAttribute("open");
      }
    });
    if (target) target.focus();
  });
})();
