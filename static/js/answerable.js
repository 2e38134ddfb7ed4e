// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Suggest similar open concerns while a new one is typed. The text is sent in a
  // POST body so it never appears in a URL or an access log.
  document.querySelectorAll("form[data-similar-url]").forEach(function (form) {
    var title = form.querySelector("input[name=title]");
    var target = form.querySelector("#similar");
    if (!title || !target) return;
    var timer = null;
    var last = "";
    title.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var text = title.value.trim();
        if (text === last) return;
        last = text;
        if (text.length < 4) { target.innerHTML = ""; return; }
        var body = new URLSearchParams({ text: text });
        fetch(form.dataset.similarUrl, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          referrerPolicy: "no-referrer", // the draft's page is nobody's business
          headers: { "X-CSRFToken": csrfToken(form) },
        })
          .then(function (r) { return r.ok ? r.text() : ""; })
          .then(function (html) { target.innerHTML = html; })
          .catch(function () {});
      }, 300);
    });
  });

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.querySelector(button.dataset.copy);
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
  });
})();
