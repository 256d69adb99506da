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

  // Archive uploads: the file in chunks, in order, each with its Content-Range; after a
  // dropped connection, ask the server where the upload stands and go on from there. Then
  // follow the import until it is done or fails.
  var CHUNK = 8 * 1024 * 1024;

  function human(bytes) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var i = 0;
    while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  }

  function duration(seconds) {
    if (!isFinite(seconds)) return "";
    if (seconds < 60) return Math.ceil(seconds) + " s";
    return Math.floor(seconds / 60) + " min " + Math.ceil(seconds % 60) + " s";
  }

  function setUpUploader(form) {
    var bar = document.getElementById("upload-bar");
    var figures = document.getElementById("upload-figures");
    var status = document.getElementById("import-status");
    var token = csrfToken(form.querySelector("input"));
    var headers = function (extra) {
      var all = { "X-CSRFToken": token };
      for (var key in extra) all[key] = extra[key];
      return all;
    };
    var json = function (response) {
      return response.json().then(function (data) { data._status = response.status; return data; });
    };

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = form.querySelector("input[type=file]").files[0];
      if (!file) return;
      var tag = form.querySelector("[name=tag]").value.trim();
      form.querySelector("button").disabled = true;
      document.getElementById("upload-progress").hidden = false;
      status.hidden = true;
      status.textContent = "";
      bar.value = 0;
      figures.textContent = "Starting…";
      var started = Date.now();
      fetch(form.getAttribute("data-start"), {
        method: "POST", credentials: "same-origin",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ filename: file.name, size: file.size, tag: tag })
      }).then(json).then(function (upload) {
        if (upload._status !== 201) throw new Error(upload.error || "The upload could not start.");
        return send(upload, file, 0, 0, started);
      }).then(follow).catch(function (error) {
        show("failed", error.message);
        form.querySelector("button").disabled = false;
      });
    });

    function send(upload, file, offset, failures, started) {
      if (offset >= file.size) return Promise.resolve(upload);
      var end = Math.min(offset + CHUNK, file.size);
      return fetch(upload.url, {
        method: "PATCH", credentials: "same-origin",
        headers: headers({ "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size,
                           "Content-Type": "application/octet-stream" }),
        body: file.slice(offset, end)
      }).then(json).then(function (answer) {
        if (answer._status === 200) {
          report(answer.received, file.size, started);
          return send(upload, file, answer.received, 0, started);
        }
        if (answer._status === 409 && typeof answer.received === "number") {
          return send(upload, file, answer.received, failures, started);
        }
        throw new Error(answer.error || "The upload was refused.");
      }, function () {
        // The connection dropped: wait, ask where the upload stands, go on from there.
        if (failures >= 8) throw new Error("The connection keeps dropping; try again later.");
        figures.textContent = "Connection lost; resuming…";
        return new Promise(function (resolve) { setTimeout(resolve, 1000 * Math.pow(2, failures)); })
          .then(function () { return fetch(upload.url, { credentials: "same-origin" }).then(json); })
          .then(function (state) { return send(upload, file, state.received, failures + 1, started); },
                function () { return send(upload, file, offset, failures + 1, started); });
      });
    }

    function report(received, size, started) {
      var seconds = (Date.now() - started) / 1000;
      var rate = received / Math.max(seconds, 0.001);
      bar.value = Math.round(received / size * 100);
      figures.textContent = human(received) + " of " + human(size) + " · " + human(rate) + "/s" +
        (received < size ? " · " + duration((size - received) / rate) + " left" : "");
    }

    function follow(upload) {
      return fetch(upload.url, { credentials: "same-origin" }).then(json).then(function (state) {
        if (state.state === "done") {
          show("done", "Imported.", state.tags);
          form.querySelector("button").disabled = false;
          return;
        }
        if (state.state === "failed") {
          show("failed", "Import failed: " + state.message);  // the reason is a clause
          form.querySelector("button").disabled = false;
          return;
        }
        show(state.state, state.state === "queued" ? "Queued for import…" : "Importing… " + state.progress + "%");
        return new Promise(function (resolve) { setTimeout(resolve, 1000); }).then(function () { return follow(upload); });
      });
    }

    function show(state, message, tags) {
      status.hidden = false;
      status.className = "import-status import-" + state;
      status.textContent = message;
      if (tags && tags.length) {
        var list = document.createElement("ul");
        tags.forEach(function (tag) {
          var item = document.createElement("li");
          var link = document.createElement("a");
          link.href = tag.url;
          link.textContent = tag.name;
          item.appendChild(link);
          list.appendChild(item);
        });
        status.appendChild(list);
      }
    }
  }

  // A form whose fields depend on a choice (a replication rule's "Copy to"): only the group
  // of the chosen value shows; the others are hidden and disabled, so not sent either.
  function setUpDestinations(form) {
    var groups = form.querySelectorAll("fieldset[data-destination]");
    var show = function () {
      var chosen = form.querySelector("input[name=kind]:checked");
      groups.forEach(function (group) {
        var on = !chosen || group.getAttribute("data-destination") === chosen.value;
        group.hidden = !on;
        group.disabled = !on;
      });
    };
    form.addEventListener("change", function (event) {
      if (event.target.name === "kind") show();
    });
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form#uploader").forEach(setUpUploader);
    document.querySelectorAll("form[data-destinations]").forEach(setUpDestinations);
    document.querySelectorAll("[data-preview-of]").forEach(setUpPreview);
    document.querySelectorAll("form[data-name-check]").forEach(setUpNameCheck);
    // A tab bar wider than a phone scrolls: bring the current tab into sight.
    document.querySelectorAll(".tabs").forEach(function (bar) {
      var current = bar.querySelector("[aria-current=page]");
      if (!current) return;
      var beyond = current.getBoundingClientRect().right - bar.getBoundingClientRect().right;
      if (beyond > 0) bar.scrollLeft += Math.ceil(beyond);
    });
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
