// Live updates (docs/live-updates.md): one server-sent event stream per signed-in browser
// keeps the tab title's open count and every [data-live] element of the page up to date.
//
// An element says what it follows: data-live="incidents" (any incident its viewer sees),
// "incident:<id>" (one incident) or "oncall" (who is on call). On a matching event it gets a
// "live" DOM event: htmx elements fetch their fragment (hx-trigger="live"), incidents.js
// refreshes the incident page. data-live-until="<ISO time>" refreshes the element at that time
// too (the next on-call handoff).
//
// Browsers allow six HTTP/1.1 connections per host across all tabs, so tabs share one stream:
// the tab holding the Web Lock "opsduty-live-<user>" opens it and passes each event on through
// a BroadcastChannel of the same name; when that tab closes, another takes the lock over.
// Without EventSource, or where the server does not offer the stream (a WSGI-only
// deployment), the page falls back to refreshing every POLL_MS.
(function () {
  "use strict";

  var POLL_MS = 10000;
  var MAX_TIMER_MS = 24 * 3600 * 1000;
  var body = document.body;
  var url = body.dataset.liveUrl;
  if (!url) return;
  var name = "opsduty-live-" + body.dataset.liveUser;
  var channel = null;
  var lastCount = null;
  var polling = null;

  // --- what an event does on this page ----------------------------------------------------

  function setCount(count) {
    if (typeof count !== "number") return;
    lastCount = count;
    var title = document.title.replace(/^\(\d+\) /, "");
    document.title = (count > 0 ? "(" + count + ") " : "") + title;
  }

  function matches(topic, event) {
    if (event.resync) return true;
    if (topic === "oncall") return !!event.oncall;
    var ids = event.incidents || [];
    if (topic === "incidents") return ids.length > 0 || !!event.every;
    if (topic.indexOf("incident:") === 0) {
      return !!event.every || ids.indexOf(Number(topic.slice(9))) !== -1;
    }
    return false;
  }

  function refresh(element) {
    if (window.htmx) window.htmx.trigger(element, "live");
    else element.dispatchEvent(new CustomEvent("live", { bubbles: true }));
  }

  function apply(event) {
    setCount(event.count);
    document.querySelectorAll("[data-live]").forEach(function (element) {
      if (matches(element.dataset.live, event)) refresh(element);
    });
  }

  // htmx takes the title from a response that carries one; keep the count in it.
  document.addEventListener("htmx:afterSettle", function () {
    if (lastCount !== null) setCount(lastCount);
    scheduleUntil();
  });

  // --- refreshes at a known time (on-call handoffs) ----------------------------------------

  var untilTimers = [];
  function scheduleUntil() {
    untilTimers.forEach(clearTimeout);
    untilTimers = [];
    document.querySelectorAll("[data-live-until]").forEach(function (element) {
      var wait = Date.parse(element.dataset.liveUntil) - Date.now() + 1000;
      if (!(wait < MAX_TIMER_MS)) return;
      untilTimers.push(setTimeout(function () { refresh(element); }, Math.max(wait, 0)));
    });
  }

  // --- without a stream: poll --------------------------------------------------------------

  function poll() {
    if (polling) return;
    polling = setInterval(function () { apply({ resync: 1 }); }, POLL_MS);
  }

  // --- the stream --------------------------------------------------------------------------

  function share(event) {
    if (channel) channel.postMessage(event);
  }

  // After EventSource gave up (it does on any answer but 200), ask why: 401/403 means signed
  // out (stop), 404 means no stream here (poll), anything else is passing (reconnect later).
  function diagnose(retryMs) {
    var controller = window.AbortController ? new AbortController() : null;
    fetch(url, { credentials: "same-origin", signal: controller && controller.signal })
      .then(function (response) {
        if (controller) controller.abort();
        if (response.status === 401 || response.status === 403) return;
        if (response.status === 404) {
          share({ poll: 1 });
          poll();
          return;
        }
        setTimeout(function () { connect(Math.min(retryMs * 2, 30000)); }, retryMs);
      })
      .catch(function () {
        setTimeout(function () { connect(Math.min(retryMs * 2, 30000)); }, retryMs);
      });
  }

  function connect(retryMs) {
    var source = new EventSource(url);
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      apply(event);
      share(event);
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) diagnose(retryMs || 2000);
    };
  }

  function start() {
    scheduleUntil();
    if (!window.EventSource) {
      poll();
      return;
    }
    if (window.BroadcastChannel && navigator.locks) {
      var holder = false;
      channel = new BroadcastChannel(name);
      channel.onmessage = function (message) {
        var event = message.data || {};
        if (event.ask) {
          // A tab that just opened: tell it the count, or that there is no stream here.
          if (holder && polling) channel.postMessage({ poll: 1 });
          else if (holder && lastCount !== null) channel.postMessage({ count: lastCount });
        } else if (event.poll) {
          poll();
        } else {
          apply(event);
        }
      };
      navigator.locks.request(name, function () {
        holder = true;
        connect(2000);
        return new Promise(function () {}); // held for the life of this page
      });
      // Until this tab holds the lock another one streams: catch up with what changed since
      // this page was rendered, and ask the streaming tab for the current count.
      navigator.locks.query().then(function (state) {
        var held = (state.held || []).some(function (lock) { return lock.name === name; });
        if (held && !holder) {
          apply({ resync: 1 });
          channel.postMessage({ ask: 1 });
        }
      });
      return;
    }
    connect(2000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
