// The preview page: fetch the issue as JSON, fill the page (textContent only, never HTML),
// point the sandboxed frames at the email, and refetch whenever /events says it changed.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const path = location.pathname === "/" ? "/next" : location.pathname;
  const view = path.slice(1); // "next" or "issues/N"
  const skip = new URLSearchParams(location.search).get("skip");
  const query = view === "next" && skip ? `?skip=${encodeURIComponent(skip)}` : "";
  const store = {
    get: (key) => { try { return localStorage.getItem(key); } catch { return null; } },
    set: (key, value) => { try { localStorage.setItem(key, value); } catch { /* private mode */ } },
  };

  let version = null;
  let scheme = store.get("digest-preview-scheme") === "dark" ? "dark" : "light";
  let tab = store.get("digest-preview-tab") === "text" ? "text" : "html";
  let inFlight = false;
  let again = false;

  const put = (id, value) => { $(id).textContent = value == null ? "" : String(value); };

  function item(parent, text, className) {
    const li = document.createElement("li");
    if (className) li.className = className;
    li.textContent = text;
    parent.append(li);
    return li;
  }

  function link(href, text, current) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (current) a.setAttribute("aria-current", "page");
    return a;
  }

  function renderNav(nav) {
    const box = $("nav");
    box.replaceChildren();
    if (nav.next != null) {
      for (let k = 0; k <= 3; k += 1) {
        const here = view === "next" && Number(skip || 0) === k;
        const name = k === 0 ? `Next #${nav.next}` : `#${nav.next + k}`;
        box.append(link(k === 0 ? "/" : `/next?skip=${k}`, name, here));
      }
    }
    const past = nav.issues.slice(-8).reverse();
    if (past.length) {
      const span = document.createElement("span");
      span.className = "nav-caption";
      span.textContent = "Past";
      box.append(span);
      for (const n of past) box.append(link(`/issues/${n}`, `#${n}`, view === `issues/${n}`));
    }
  }

  function renderChecks(checks) {
    const list = $("checks");
    list.replaceChildren();
    const icons = { ok: "✓", warn: "!", fail: "✗" };
    for (const check of checks) {
      const li = item(list, "", `check ${check.status}`);
      li.dataset.status = check.status;
      const icon = document.createElement("span");
      icon.className = "icon";
      icon.setAttribute("aria-label", check.status);
      icon.textContent = icons[check.status] || "?";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = check.name;
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = check.detail;
      li.append(icon, name, detail);
    }
  }

  function frameSrc() {
    const sep = query ? "&" : "?";
    return `/frame/${view}${query}${sep}scheme=${scheme}&v=${encodeURIComponent(version || "")}`;
  }

  function showFrames() {
    const src = frameSrc();
    for (const id of ["frame-desktop", "frame-phone"]) {
      const frame = $(id);
      if (frame.getAttribute("src") !== src) frame.setAttribute("src", src);
    }
  }

  function render(data) {
    document.title = `${data.label} · ${data.title || "Digest"} preview`;
    put("newsletter", data.title || "Digest");
    put("label", data.label);
    renderNav(data.nav);
    const failed = data.error != null;
    $("error").hidden = !failed;
    $("issue").hidden = failed;
    document.body.classList.toggle("has-error", failed);
    if (failed) {
      put("error-message", data.error.message);
      put("error-hint", data.error.hint ? `hint: ${data.error.hint}` : "");
      return;
    }
    const h = data.headers;
    put("h-subject", h.subject);
    put("h-from-name", h.from_name);
    put("h-from-address", h.from_name ? `<${h.from_address}>` : h.from_address);
    put("h-to", h.to);
    put("h-date", h.date);
    put("h-preheader", h.preheader || "(none)");
    put("inbox-from", h.from_name || h.from_address);
    put("inbox-subject", h.subject);
    put("inbox-preheader", h.preheader ? `— ${h.preheader}` : "");
    put("text-part", data.text == null ? "(this message has no plain-text part)" : data.text);
    renderChecks(data.checks);
    const excerpts = $("excerpts");
    excerpts.replaceChildren();
    for (const line of data.excerpts) item(excerpts, line);
    const notes = $("notes");
    notes.replaceChildren();
    for (const line of data.notes) item(notes, line);
    $("eml-link").href = `/eml/${view}${query}`;
    showFrames();
  }

  async function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const response = await fetch(`/api/${view}${query}`, { cache: "no-store" });
      const data = await response.json();
      version = data.version;
      render(data);
      document.body.dataset.version = version;
    } catch (error) {
      put("live", "cannot reach the preview server");
    } finally {
      inFlight = false;
      if (again) { again = false; refresh(); }
    }
  }

  function setScheme(value) {
    scheme = value;
    store.set("digest-preview-scheme", value);
    document.body.classList.toggle("scheme-dark", value === "dark");
    document.body.classList.toggle("scheme-light", value !== "dark");
    $("scheme-light").setAttribute("aria-pressed", String(value !== "dark"));
    $("scheme-dark").setAttribute("aria-pressed", String(value === "dark"));
    if (version) showFrames();
  }

  function setTab(value) {
    tab = value;
    store.set("digest-preview-tab", value);
    $("tab-html").setAttribute("aria-selected", String(value === "html"));
    $("tab-text").setAttribute("aria-selected", String(value === "text"));
    $("panel-html").hidden = value !== "html";
    $("panel-text").hidden = value !== "text";
  }

  // "Send test": the issue on screen to the given addresses, as `digest send --test` sends
  // it; offered only with SMTP configured (the server says) and for this or a past issue.
  async function offerTestSend() {
    const form = $("test-send");
    try {
      const response = await fetch("/api/test-send", { cache: "no-store" });
      const offer = await response.json();
      form.hidden = !offer.enabled || (view === "next" && Number(skip || 0) > 0);
      if (offer.enabled && !$("test-to").value) $("test-to").value = offer.suggest;
    } catch (error) {
      form.hidden = true;
    }
  }

  async function sendTest(event) {
    event.preventDefault();
    const addresses = $("test-to").value.split(",").map((a) => a.trim()).filter(Boolean);
    $("test-button").disabled = true;
    put("test-status", "sending…");
    try {
      const response = await fetch("/api/test-send", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ view, addresses }),
      });
      if (!response.ok) {
        put("test-status", `not sent: ${(await response.text()).trim()}`);
        return;
      }
      const result = await response.json();
      const failed = result.outcomes.filter((o) => o.verdict !== "sent");
      put("test-status", failed.length
        ? `not sent to ${failed.map((o) => `${o.address} (${o.reply})`).join(", ")}`
        : `sent to ${result.outcomes.map((o) => o.address).join(", ")}; nothing recorded`);
    } catch (error) {
      put("test-status", "cannot reach the preview server");
    } finally {
      $("test-button").disabled = false;
    }
  }

  $("test-send").addEventListener("submit", sendTest);
  $("scheme-light").addEventListener("click", () => setScheme("light"));
  $("scheme-dark").addEventListener("click", () => setScheme("dark"));
  $("tab-html").addEventListener("click", () => setTab("html"));
  $("tab-text").addEventListener("click", () => setTab("text"));
  setScheme(scheme);
  setTab(tab);

  const events = new EventSource("/events");
  events.addEventListener("open", () => { put("live", "live"); $("live").className = "live on"; });
  events.addEventListener("error", () => { put("live", "reconnecting…"); $("live").className = "live"; });
  events.addEventListener("version", (event) => {
    if (event.data !== version) { refresh(); offerTestSend(); }
  });
  refresh();
  offerTestSend();
})();
