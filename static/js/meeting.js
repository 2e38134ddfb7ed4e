// Makes a meeting page live. Without this file the page shows the state as of its
// load; with it, every state message from the server updates the page in place:
// only the text and classes that changed are touched, and elements are reused, so a
// reader's place, selection and focus stay where they are.
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
  var STATUS = { planned: "Planned", live: "Live", ended: "Ended" };
  var QUESTION_STATUS = { pending: "Waiting for a moderator", rejected: "Not taken" };

  function say(value) { if (note) note.textContent = value; }

  function setText(el, value) {
    if (el && el.textContent !== value) el.textContent = value;
  }

  function text(id, value) { setText(document.getElementById(id), value); }

  function votesLabel(n) { return n + (n === 1 ? " vote" : " votes"); }

  function renderItemVotes(li, votes) {
    var span = li.querySelector("[data-votes]");
    if (!span || votes === null) return;
    setText(span, String(votes));
    // The word after the number is the template's own text: keep its plural right.
    var after = span.nextSibling;
    if (after && after.nodeType === Node.TEXT_NODE) {
      var fixed = after.nodeValue.replace(/^(\s*)votes?\b/, "$1" + (votes === 1 ? "vote" : "votes"));
      if (fixed !== after.nodeValue) after.nodeValue = fixed;
    }
  }

  function render(state) {
    text("meeting-status", STATUS[state.status] || state.status);
    var current = null;
    state.items.forEach(function (item) {
      if (item.id === state.current) current = item;
      var li = root.querySelector('[data-item="' + item.id + '"]');
      if (!li) return;
      li.classList.toggle("current", item.id === state.current);
      li.classList.toggle("discussed", item.discussed);
      renderItemVotes(li, item.votes);
      setText(li.querySelector("[data-state]"),
        item.id === state.current ? "Now" : (item.discussed ? "Discussed" : ""));
    });
    if (current) {
      text("current-title", current.title);
      text("current-votes", current.votes === null ? "" : votesLabel(current.votes));
    } else if (state.status === "ended") {
      text("current-title", role === "presenter" ? "Thank you" : "The meeting has ended.");
      text("current-votes", "");
    }
    renderQuestions(state.questions);
  }

  function questionMeta(q) {
    var label = QUESTION_STATUS[q.status];
    return (q.by ? q.by : "anonymous") + (label ? " · " + label : "");
  }

  function newQuestion(q) {
    var li = document.createElement("li");
    li.dataset.question = q.id;
    var votes = document.createElement("span");
    votes.className = "q-votes";
    var body = document.createElement("span");
    body.className = "q-text";
    var meta = document.createElement("span");
    meta.className = "meta";
    li.append(votes, " ", body, " ", meta);
    return li;
  }

  function updateQuestion(li, q) {
    setText(li.querySelector(".q-votes"), String(q.votes));
    setText(li.querySelector(".q-text"), q.text);
    setText(li.querySelector(".meta"), questionMeta(q));
    li.classList.toggle("highlighted", q.highlighted);
    ["pending", "approved", "rejected"].forEach(function (status) {
      li.classList.toggle("q-" + status, q.status === status);
    });
  }

  // The question the reader is in: it holds their selection or focus.
  function readerAt(list) {
    var selection = window.getSelection ? window.getSelection() : null;
    var node = selection && selection.rangeCount ? selection.anchorNode : document.activeElement;
    var el = node && (node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement);
    var li = el && el.closest ? el.closest("li[data-question]") : null;
    return li && li.parentElement === list ? li : null;
  }

  // Puts the questions in the server's order, moving only those out of place and
  // never the one the reader is in: a moved element loses its selection and focus,
  // so the others move around it instead.
  function order(list, wanted, fixed) {
    var i = fixed ? wanted.indexOf(fixed) : -1;
    var at = list.firstElementChild;
    (i < 0 ? wanted : wanted.slice(0, i)).forEach(function (li) {
      if (li === at) at = at.nextElementSibling;
      else list.insertBefore(li, at);
    });
    if (i < 0) return;
    at = fixed.nextElementSibling;
    wanted.slice(i + 1).forEach(function (li) {
      if (li === at) at = at.nextElementSibling;
      else list.insertBefore(li, at);
    });
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
    var shown = {};
    Array.prototype.forEach.call(list.querySelectorAll("li[data-question]"), function (li) {
      shown[li.dataset.question] = li;
    });
    var wanted = questions.map(function (q) {
      var li = shown[q.id] || newQuestion(q);
      delete shown[q.id];
      updateQuestion(li, q);
      return li;
    });
    Object.keys(shown).forEach(function (id) { shown[id].remove(); });
    var empty = list.querySelector("li.empty");
    if (wanted.length && empty) empty.remove();
    var fixed = readerAt(list);
    // Questions moving above the reader's one would push it down the screen: note
    // where it is and scroll by whatever the reordering moved it.
    var topBefore = fixed ? fixed.getBoundingClientRect().top : null;
    order(list, wanted, fixed);
    if (fixed && fixed.isConnected) {
      var shift = fixed.getBoundingClientRect().top - topBefore;
      if (shift) window.scrollBy(0, shift);
    }
    if (!wanted.length && !list.querySelector("li.empty")) {
      var none = document.createElement("li");
      none.className = "empty";
      none.textContent = "No questions yet.";
      list.appendChild(none);
    }
  }

  function receive(message) {
    if (message.type === "error") { say(message.message); return; }
    if (message.type === "snapshot") {
      // Sent on every (re)connection: whatever was missed while away is in it.
      lastSeq = Math.max(lastSeq, message.seq);
    } else if (message.type === "state") {
      // Every state is whole: the one numbered N shows every change up to N. So an
      // older or repeated one is dropped, and a newer one is applied even when
      // numbers were skipped (two changes published as one state): nothing is
      // missing, and asking for a snapshot would only repeat what just arrived.
      if (message.seq <= lastSeq) return;
      lastSeq = message.seq;
    } else {
      return;
    }
    root.dataset.seq = String(lastSeq);
    render(message);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/meetings/" + meetingId + "/");
    socket.onopen = function () { retry = 500; say("Live: this page updates by itself."); };
    socket.onmessage = function (event) { receive(JSON.parse(event.data)); };
    socket.onclose = function () {
      // Messages sent while the socket was down are lost: the snapshot that every
      // new connection gets is what makes the page whole again.
      say("Reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  connect();
})();
