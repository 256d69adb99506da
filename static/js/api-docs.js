// The API docs page (Swagger UI) follows the system's dark mode: Swagger UI styles
// `html.dark-mode`, and only its own toggle (absent here) would set it.
"use strict";
(function () {
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const apply = () => document.documentElement.classList.toggle("dark-mode", dark.matches);
  apply();
  dark.addEventListener("change", apply);
})();
