// Rater page of a toolkit user study (served by `toolkit survey serve`, or opened from a static export).
// Builds the page with createElement/textContent only: nothing from the server or the rater is ever
// parsed as HTML. Two backends: "server" (answers POSTed, stored in SQLite, resumed from the server)
// and "static" (answers kept in localStorage, downloaded as a JSON file for `toolkit survey aggregate`).
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("survey-data").textContent);
  var study = data.study;
  var items = [];
  var answers = {};
  var current = -1;
  var itemStartedAt = 0;

  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] === true) node.setAttribute(k, "");
      else if (attrs[k] !== false && attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, String(attrs[k]));
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setStatus(text, ok) {
    $("status").textContent = text || "";
    $("status").className = ok ? "ok" : "";
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // ---------------------------------------------------------------- backends
  function serverBackend() {
    return {
      load: function () {
        return fetch(data.api + "state", { cache: "no-store", credentials: "same-origin" }).then(function (r) {
          if (!r.ok) throw new Error("The study could not be loaded (HTTP " + r.status + "). Check your link.");
          return r.json();
        });
      },
      // Retried on network errors: the server stores one answer per (rater, item), so a retry never duplicates.
      submit: async function (answer) {
        var lastError = null;
        for (var attempt = 0; attempt < 4; attempt++) {
          var r;
          try {
            r = await fetch(data.api + "answers", {
              method: "POST",
              credentials: "same-origin",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify(answer),
            });
          } catch (e) {
            lastError = new Error("Connection problem; retrying...");
            setStatus(lastError.message);
            await sleep(500 * (attempt + 1));
            continue;
          }
          var body = {};
          try { body = await r.json(); } catch (e) { body = {}; }
          if (r.ok) return body;
          if (r.status >= 500) { lastError = new Error("Server error; retrying..."); await sleep(500 * (attempt + 1)); continue; }
          throw new Error(body.error || ("The answer was refused (HTTP " + r.status + ")."));
        }
        throw new Error("The answer could not be saved: " + (lastError ? lastError.message : "unknown error") +
          " Please try Submit again.");
      },
    };
  }

  function staticBackend() {
    var storeKey = "toolkit-survey:" + study.study_id + ":" + data.token;
    function saved() {
      try { return JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
    }
    return {
      load: function () {
        return Promise.resolve({ items: data.items, answers: saved() });
      },
      submit: function (answer) {
        var all = saved();
        all[answer.item_id] = {
          values: answer.values, comment: answer.comment, elapsed_ms: answer.elapsed_ms,
          answered_at: new Date().toISOString(),
        };
        try { localStorage.setItem(storeKey, JSON.stringify(all)); } catch (e) { /* file:// without storage */ }
        return Promise.resolve({ ok: true, answered: Object.keys(all).length });
      },
      download: function () {
        var all = Object.assign(saved(), answers);
        var list = Object.keys(all).map(function (k) {
          var a = all[k];
          return { item_id: k, values: a.values, comment: a.comment || "", elapsed_ms: a.elapsed_ms === undefined ? null : a.elapsed_ms };
        });
        var file = { format: "toolkit-survey-answers", version: 1, study_id: study.study_id, token: data.token, answers: list };
        var blob = new Blob([JSON.stringify(file, null, 1)], { type: "application/json" });
        var a = el("a", { href: URL.createObjectURL(blob), download: "answers-" + study.study_id + "-" + data.token.slice(0, 8) + ".json" });
        document.body.appendChild(a);
        a.click();
        a.remove();
      },
    };
  }

  var backend = data.mode === "static" ? staticBackend() : serverBackend();

  // ---------------------------------------------------------------- rendering
  function answeredCount() {
    return items.filter(function (it) { return Object.prototype.hasOwnProperty.call(answers, it.item_id); }).length;
  }

  function showProgress() {
    var n = answeredCount();
    $("progress").max = Math.max(items.length, 1);
    $("progress").value = n;
    $("progress-text").textContent = n + " of " + items.length + " answered";
    if (data.mode === "static" && n > 0) $("download-box").hidden = false;
  }

  function nextUnanswered() {
    for (var i = 0; i < items.length; i++) {
      if (!Object.prototype.hasOwnProperty.call(answers, items[i].item_id)) return i;
    }
    return -1;
  }

  function showDone() {
    $("item").replaceChildren();
    $("done").hidden = false;
    $("done-text").textContent = "You have answered all " + items.length + " items." +
      (data.mode === "static" ? " Please download your answers and send the file back." : " You can close this page.");
    setStatus("");
  }

  function renderItem(index) {
    current = index;
    var item = items[index];
    var box = $("item");
    box.replaceChildren();
    var ab = study.design === "ab";
    var watched = item.videos.map(function () { return !study.require_full_view; });
    var videoRow = el("div", { class: "videos" });
    var videos = item.videos.map(function (url, i) {
      var fig = el("figure");
      if (ab) fig.appendChild(el("figcaption", {}, i === 0 ? "A" : "B"));
      var v = el("video", { id: "video-" + i, src: url, controls: true, preload: "auto", playsinline: true });
      v.addEventListener("ended", function () { watched[i] = true; update(); });
      v.addEventListener("timeupdate", function () {
        if (v.duration && v.currentTime >= v.duration - 0.15) { watched[i] = true; update(); }
      });
      fig.appendChild(v);
      videoRow.appendChild(fig);
      return v;
    });
    box.appendChild(el("h2", {}, (ab ? "Pair " : "Video ") + (index + 1) + " of " + items.length));
    box.appendChild(videoRow);

    var controls = el("div", { class: "controls" });
    var play = el("button", { id: "play", type: "button" }, ab ? "Play A, then B" : "Play");
    play.addEventListener("click", function () {
      if (ab) {
        videos[1].pause();
        videos[0].currentTime = 0;
        videos[0].onended = function () { videos[0].onended = null; videos[1].currentTime = 0; videos[1].play(); };
        videos[0].play();
      } else {
        videos[0].play();
      }
    });
    controls.appendChild(play);
    var hint = el("span", { id: "watch-hint", class: "hint" }, "");
    controls.appendChild(document.createTextNode(" "));
    controls.appendChild(hint);
    box.appendChild(controls);

    var form = el("form", { id: "answer-form", novalidate: true });
    study.criteria.forEach(function (c) {
      var fs = el("fieldset", { id: "criterion-" + c.name });
      fs.appendChild(el("legend", {}, c.label + ": " + c.question));
      var scale = el("div", { class: "scale" });
      var options = ab ? ["A", "B"] : [];
      if (!ab) for (var s = study.scale_min; s <= study.scale_max; s++) options.push(String(s));
      if (!ab) scale.appendChild(el("span", { class: "end" }, "worst"));
      options.forEach(function (value) {
        var id = c.name + "-" + value;
        var label = el("label", { for: id });
        var input = el("input", { type: "radio", name: c.name, value: value, id: id });
        input.addEventListener("change", update);
        label.appendChild(input);
        label.appendChild(el("span", {}, value));
        scale.appendChild(label);
      });
      if (!ab) scale.appendChild(el("span", { class: "end" }, "best"));
      fs.appendChild(scale);
      form.appendChild(fs);
    });
    var commentLabel = el("label", { for: "comment" }, "Comment (optional)");
    form.appendChild(commentLabel);
    form.appendChild(el("br"));
    form.appendChild(el("textarea", { id: "comment", maxlength: study.comment_max_chars, rows: 2 }));
    form.appendChild(el("br"));
    var submit = el("button", { id: "submit", type: "submit", disabled: true }, "Submit");
    form.appendChild(submit);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); send(); });
    box.appendChild(form);

    function chosen() {
      var values = {};
      var complete = true;
      study.criteria.forEach(function (c) {
        var checked = form.querySelector('input[name="' + c.name + '"]:checked');
        if (!checked) complete = false;
        else values[c.name] = ab ? checked.value : parseInt(checked.value, 10);
      });
      return complete ? values : null;
    }

    function update() {
      var allWatched = watched.every(Boolean);
      hint.textContent = allWatched ? "" : (ab ? "Play both videos to the end to answer." : "Play the video to the end to answer.");
      submit.disabled = !(allWatched && chosen());
    }

    function send() {
      var values = chosen();
      if (!values || !watched.every(Boolean)) return;
      submit.disabled = true;
      setStatus("Saving...", true);
      var answer = {
        item_id: item.item_id,
        values: values,
        comment: form.querySelector("#comment").value,
        elapsed_ms: Math.max(0, Math.round(performance.now() - itemStartedAt)),
      };
      backend.submit(answer).then(function () {
        answers[item.item_id] = { values: answer.values, comment: answer.comment, elapsed_ms: answer.elapsed_ms };
        videos.forEach(function (v) { v.pause(); });
        setStatus("Saved.", true);
        advance();
      }).catch(function (e) {
        setStatus(e.message);
        update();
      });
    }

    itemStartedAt = performance.now();
    update();
  }

  function advance() {
    showProgress();
    var next = nextUnanswered();
    if (next < 0) showDone();
    else renderItem(next);
  }

  if (backend.download) $("download").addEventListener("click", function () { backend.download(); });

  backend.load().then(function (state) {
    items = state.items;
    answers = state.answers || {};
    document.body.setAttribute("data-ready", "1");
    advance();
  }).catch(function (e) {
    $("progress-text").textContent = "";
    setStatus(e.message);
  });
})();
