// Makes a meeting page live. Without this file the page shows the state as of its
// load; with it, every state message from the server updates the page in place.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.WebSocket) return;
  var meetingId = root.dataset.meeting;
  var role = root.dataset.role;
  var lastSeq = parseInt(root.dataset.seq || "0", 10);
  var note = document.getElementById("live-note");
  var socket = null;
  var retry = 500;
  var questionIds = null;

  function say(text) { if (note) note.textContent = text; }

  function text(id, value) {
    var el = document.getElementById(id);
    if (el && el.textContent !== value) el.textContent = value;
  }

  function render(state) {
    var statusLabel = { planned: "Planned", live: "Live", ended: "Ended" }[state.status] || state.status;
    text("meeting-status", statusLabel);
    var current = null;
    state.items.forEach(function (item) {
      if (item.id === state.current) current = item;
      var li = root.querySelector('[data-item="' + item.id + '"]');
      if (!li) return;
      li.classList.toggle("current", item.id === state.current);
      li.classList.toggle("discussed", item.discussed);
      var votes = li.querySelector("[data-votes]");
      if (votes && item.votes !== null) votes.textContent = String(item.votes);
      var st = li.querySelector("[data-state]");
      if (st) st.textContent = item.id === state.current ? "Now" : (item.discussed ? "Discussed" : "");
    });
    if (current) {
      text("current-title", current.title);
      text("current-votes", current.votes === null ? "" : current.votes + (current.votes === 1 ? " vote" : " votes"));
    } else if (state.status === "ended") {
      text("current-title", role === "presenter" ? "Thank you" : "The meeting has ended.");
      text("current-votes", "");
    }
    renderQuestions(state.questions);
  }

  function renderQuestions(questions) {
    if (role === "console") {
      // The console's questions carry forms; rather than rebuild them, say so.
      var ids = questions.map(function (q) { return q.id + q.status; }).join(",");
      if (questionIds !== null && ids !== questionIds) {
        var hint = document.getElementById("questions-changed");
        if (hint) hint.hidden = false;
      }
      questionIds = ids;
      return;
    }
    var list = document.getElementById("questions");
    if (!list) return;
    var fresh = document.createElement("ul");
    fresh.className = "questions";
    fresh.id = "questions";
    questions.forEach(function (q) {
      var li = document.createElement("li");
      li.dataset.question = q.id;
      if (q.highlighted) li.className = "highlighted";
      var votes = document.createElement("span");
      votes.className = "q-votes";
      votes.textContent = String(q.votes);
      var body = document.createElement("span");
      body.className = "q-text";
      body.textContent = q.text;
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = q.by ? q.by : "anonymous";
      li.append(votes, " ", body, " ", meta);
      fresh.appendChild(li);
    });
    if (!questions.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No questions yet.";
      fresh.appendChild(empty);
    }
    list.replaceWith(fresh);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/meetings/" + meetingId + "/");
    socket.onopen = function () { retry = 500; say("Live: this page updates by itself."); };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "error") { say(message.message); return; }
      if (message.type !== "snapshot" && message.type !== "state") return;
      // Old or repeated messages are ignored; a snapshot always applies.
      if (message.type === "state" && message.seq <= lastSeq) return;
      if (message.type === "state" && message.seq > lastSeq + 1) {
        // A gap: ask for a snapshot as well, so nothing is missed.
        socket.send(JSON.stringify({ action: "snapshot" }));
      }
      lastSeq = Math.max(lastSeq, message.seq);
      root.dataset.seq = String(lastSeq);
      render(message);
    };
    socket.onclose = function () {
      say("Reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  connect();
})();
