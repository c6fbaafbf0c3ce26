// mailhooks dashboard: the events list's first page shows new events without a reload.
// It asks the page's own fragment URL (same origin) for matching events newer than its top
// row and puts the rows it gets on top; nothing else on the page changes.
"use strict";
(function () {
  const table = document.querySelector("table[data-live]");
  if (!table) return;
  const body = table.tBodies[0];
  const every = Number(table.dataset.liveMs) || 3000;
  const count = document.querySelector('[data-count="matching"]:not([data-capped])');

  function topId() {
    const row = body.querySelector("tr[data-event-id]");
    return row ? row.dataset.eventId : "0";
  }

  async function poll() {
    if (document.hidden) return true;
    const url = new URL(table.dataset.live, window.location.href);
    url.searchParams.set("after_id", topId());
    const answer = await fetch(url, { credentials: "same-origin", redirect: "manual" });
    if (!answer.ok) return answer.status >= 500;  // logged out or refused: stop asking
    const html = (await answer.text()).trim();
    if (!html) return true;
    const before = body.rows.length;
    body.insertAdjacentHTML("afterbegin", html);
    const added = body.rows.length - before;
    if (count && added > 0) count.textContent = String(Number(count.textContent) + added);
    const empty = document.querySelector("[data-empty]");
    if (empty && added > 0) empty.remove();
    return true;
  }

  async function loop() {
    let again = true;
    try {
      again = await poll();
    } catch (error) {
      again = true;  // the server restarting or the network gone: try again later
    }
    if (again) window.setTimeout(loop, every);
  }

  window.setTimeout(loop, every);
})();
