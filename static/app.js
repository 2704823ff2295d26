// The spam classifier page: one form, one fetch, and every outcome shown in words.
//
// Safety rule for this file: text that came from the API or from the user is only ever
// put on the page with textContent / createTextNode, never innerHTML, so a message or a
// hostile API cannot inject markup or script.
"use strict";

(function () {
  const config = window.SPAM_CLASSIFIER_CONFIG || {};
  const TIMEOUT_MS = Number(config.requestTimeoutMs) > 0 ? Number(config.requestTimeoutMs) : 20000;

  const el = (id) => document.getElementById(id);
  const form = el("analyze-form");
  const textarea = el("message");
  const button = el("analyze");
  const busy = el("busy");
  const charCount = el("char-count");
  const result = el("result");
  const verdict = el("verdict");
  const probabilityText = el("probability-text");
  const probabilityFill = el("probability-fill");
  const thresholdMark = el("threshold-mark");
  const explanation = el("explanation");
  const highlighted = el("highlighted");
  const modelVersion = el("model-version");
  const errorBox = el("error");
  const announce = el("announce");
  const apiUrlLabel = el("api-url");
  const apiHealth = el("api-health");
  const captureNotice = el("capture-notice");
  const feedbackBox = el("feedback");
  const feedbackStatus = el("feedback-status");
  const feedbackRef = el("feedback-ref");
  const feedbackId = el("feedback-id");
  const reportButtons = { spam: el("report-spam"), ham: el("report-ham") };

  /** The API base URL: `?api=` wins over config.js; only http(s) URLs are accepted. */
  function resolveApiBase() {
    const fromQuery = new URLSearchParams(window.location.search).get("api");
    const candidate = (fromQuery || config.apiBaseUrl || "").trim();
    try {
      const url = new URL(candidate);
      if (url.protocol !== "http:" && url.protocol !== "https:") return null;
      return url.href.replace(/\/+$/, "");
    } catch (_) {
      return null;
    }
  }

  const apiBase = resolveApiBase();
  let inFlight = false;
  /** The verdict a report would correct: {text, verdict, modelVersion, requestId, state}. */
  let shown = null;
  let retryTimer = null;
  /** What POST /feedback accepts as model_version and request_id (the API's own pattern). */
  const REFERENCE_RE = /^[0-9A-Za-z][0-9A-Za-z._:-]{0,127}$/;
  const DEFAULT_RETRY_SECONDS = 5;

  /** A failure we can describe to a person; `kind` lets tests and styles tell them apart. */
  class ApiProblem extends Error {
    constructor(kind, message) {
      super(message);
      this.kind = kind;
    }
  }

  /** fetch with a timeout; network and CORS failures both surface as TypeError. */
  async function callApi(path, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    let response;
    try {
      response = await fetch(apiBase + path, { ...options, signal: controller.signal });
    } catch (err) {
      if (err && err.name === "AbortError") {
        throw new ApiProblem(
          "timeout",
          `The API at ${apiBase} did not answer within ${Math.round(TIMEOUT_MS / 1000)} seconds. ` +
            "It may be overloaded or still starting; try again in a moment.",
        );
      }
      // The browser hides the reason on purpose: a server that is down and a server that
      // refuses this page's origin (CORS) look the same from JavaScript.
      throw new ApiProblem(
        "unreachable",
        `Could not reach the API at ${apiBase} (it is down, or it refused this page's ` +
          `origin ${window.location.origin} — CORS). Check that the API is running and ` +
          "that this page is allowed to call it.",
      );
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    return { response, body };
  }

  /** The API's own words for an error, when it sent the Chalice {Code, Message} shape. */
  function apiMessage(body) {
    if (body && typeof body === "object") {
      for (const key of ["Message", "message", "error", "detail"]) {
        if (typeof body[key] === "string" && body[key].trim()) return body[key].trim();
      }
    }
    return "";
  }

  function describeHttpError(status, body) {
    const said = apiMessage(body);
    if (status === 503) {
      return new ApiProblem(
        "no-model",
        "The API is up but has no model loaded yet (503), so it cannot classify messages. " +
          "Publish a model to the registry; the API picks it up without a restart." +
          (said ? ` The API said: ${said}` : ""),
      );
    }
    if (status === 413) {
      return new ApiProblem(
        "too-long",
        `The message is too long for the API (413): ${said || "it did not say the limit."} ` +
          "Shorten it and try again.",
      );
    }
    if (status === 500 && body && body.Code === "NotConfiguredError") {
      return new ApiProblem(
        "not-configured",
        `The API is not configured (500), so retrying will not help: ${said} ` +
          "Tell whoever runs it.",
      );
    }
    if (status >= 400 && status < 500) {
      return new ApiProblem(
        "rejected",
        `The API rejected the request (${status}): ${said || "no reason given."}`,
      );
    }
    return new ApiProblem(
      "server",
      `The API failed (HTTP ${status}). ${said || "It did not say why."} Try again later.`,
    );
  }

  function showError(problem) {
    errorBox.textContent = problem.message;
    errorBox.dataset.kind = problem.kind || "unknown";
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    delete errorBox.dataset.kind;
  }

  function setBusy(on) {
    const hadFocus = document.activeElement === button;
    inFlight = on;
    button.disabled = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    busy.hidden = !on;
    result.classList.toggle("stale", on); // an older verdict stays visible, dimmed
    if (on) lockReport(); // a verdict being replaced cannot be reported any more
    // A disabled button drops keyboard focus; give it back when the answer is in.
    if (!on && (hadFocus || document.activeElement === document.body)) button.focus();
  }

  /**
   * The explanation as [{word, weight}] whatever shape the API uses: a list of words,
   * of [word, weight] pairs, of {word|token|term|feature, weight|contribution|score}
   * objects, or a {word: weight} map. Positive weight pushes toward spam.
   */
  function normalizeExplanation(raw) {
    const out = [];
    const numberOrNull = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    const push = (word, weight) => {
      if (typeof word === "string" && word.trim()) out.push({ word: word.trim(), weight });
    };
    if (Array.isArray(raw)) {
      for (const item of raw) {
        if (typeof item === "string") push(item, null);
        else if (Array.isArray(item)) push(item[0], numberOrNull(item[1]));
        else if (item && typeof item === "object") {
          const word = item.word ?? item.token ?? item.term ?? item.feature;
          const weight = item.weight ?? item.contribution ?? item.score ?? item.impact;
          push(word, numberOrNull(weight));
        }
      }
    } else if (raw && typeof raw === "object") {
      for (const [word, weight] of Object.entries(raw)) push(word, numberOrNull(weight));
    }
    return out;
  }

  /** Rebuilds `container` as the message with the explained words wrapped in <mark>. */
  function renderHighlighted(container, text, words) {
    const weights = new Map();
    for (const { word, weight } of words) {
      for (const part of word.toLowerCase().split(/\s+/)) {
        if (part && !weights.has(part)) weights.set(part, weight);
      }
    }
    container.replaceChildren();
    let count = 0;
    let last = 0;
    for (const match of text.matchAll(/[\p{L}\p{N}_']+/gu)) {
      const token = match[0];
      const key = token.toLowerCase();
      const lookup = weights.has(key) ? key : key.replace(/'/g, "");
      if (!weights.has(lookup)) continue;
      const weight = weights.get(lookup);
      container.append(document.createTextNode(text.slice(last, match.index)));
      const mark = document.createElement("mark");
      mark.textContent = token;
      mark.className = weight !== null && weight < 0 ? "ham-word" : "spam-word";
      if (weight !== null) mark.title = `weight ${weight.toFixed(3)}`;
      container.append(mark);
      last = match.index + token.length;
      count += 1;
    }
    container.append(document.createTextNode(text.slice(last)));
    return count;
  }

  function percent(p) {
    return `${(Math.round(p * 1000) / 10).toFixed(1)}%`;
  }

  function showResult(body, sentText, requestId) {
    const label = String(body.classification || "").toUpperCase();
    const isSpam = label === "SPAM";
    verdict.textContent = isSpam ? "SPAM" : label === "HAM" ? "HAM" : label || "unknown";
    verdict.className = "verdict " + (isSpam ? "is-spam" : "is-ham");
    result.dataset.verdict = isSpam ? "spam" : "ham";

    const p = Number(body.spam_probability);
    const threshold = Number(body.threshold);
    if (Number.isFinite(p)) {
      const clamped = Math.min(Math.max(p, 0), 1);
      probabilityText.textContent =
        `Spam probability: ${percent(clamped)}` +
        (Number.isFinite(threshold) ? ` (called spam at ${percent(threshold)} or more)` : "");
      probabilityFill.style.width = `${clamped * 100}%`;
      probabilityFill.className = "bar-fill " + (isSpam ? "is-spam" : "is-ham");
    } else {
      probabilityText.textContent = "Spam probability: not reported";
      probabilityFill.style.width = "0";
    }
    if (Number.isFinite(threshold)) {
      thresholdMark.hidden = false;
      thresholdMark.style.left = `${Math.min(Math.max(threshold, 0), 1) * 100}%`;
    } else {
      thresholdMark.hidden = true;
    }

    const words = normalizeExplanation(
      body.explanation ?? body.explain ?? body.top_features ?? body.top_terms,
    );
    const text = typeof body.input_text === "string" ? body.input_text : sentText;
    const marked = words.length ? renderHighlighted(highlighted, text, words) : 0;
    explanation.hidden = marked === 0;

    modelVersion.textContent = body.model_version ? String(body.model_version) : "unknown";
    resetReport({
      text: sentText,
      verdict: isSpam ? "spam" : "ham",
      modelVersion: body.model_version ? String(body.model_version) : "",
      requestId: requestId || "",
    });
    result.hidden = false;
    announce.textContent = `${verdict.textContent}. ${probabilityText.textContent}.`;
  }

  // ---- Reporting a wrong verdict (POST /feedback) ------------------------------------
  //
  // Only the button that corrects the verdict is shown ("It's not spam" under SPAM). One
  // report per verdict: the button is locked from the click on, and only a failure that
  // stored nothing (503 or 429, after the API's Retry-After; another 5xx or a network
  // error, at once) unlocks it again; a 4xx (route turned off, text refused) does not.
  // It is locked with aria-disabled rather than `disabled`, so keyboard focus stays on it
  // while the outcome is announced by the polite status region below it.

  /** A new verdict: the button that corrects it, ready; any earlier outcome cleared. */
  function resetReport(context) {
    clearTimeout(retryTimer);
    shown = { ...context, state: "ready" };
    const correcting = context.verdict === "spam" ? "ham" : "spam";
    for (const [label, btn] of Object.entries(reportButtons)) btn.hidden = label !== correcting;
    setReportEnabled(true);
    setFeedbackStatus("", "");
    feedbackRef.hidden = true;
    feedbackId.textContent = "";
    feedbackBox.dataset.state = "ready";
  }

  /** No report while a new analysis runs: the verdict on screen is about to be replaced. */
  function lockReport() {
    clearTimeout(retryTimer);
    if (shown) shown.state = "replaced";
    shown = null;
    setReportEnabled(false);
  }

  function setReportEnabled(on) {
    for (const btn of Object.values(reportButtons)) {
      if (on) btn.removeAttribute("aria-disabled");
      else btn.setAttribute("aria-disabled", "true");
    }
  }

  function setFeedbackStatus(outcome, text) {
    feedbackStatus.textContent = text;
    if (outcome) feedbackStatus.dataset.outcome = outcome;
    else delete feedbackStatus.dataset.outcome;
  }

  /** Whole seconds from a Retry-After header (seconds or an HTTP date), else the default. */
  function retrySeconds(response) {
    const raw = (response.headers.get("Retry-After") || "").trim();
    let seconds = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(seconds) && raw) seconds = (Date.parse(raw) - Date.now()) / 1000;
    if (!Number.isFinite(seconds) || seconds < 1) seconds = DEFAULT_RETRY_SECONDS;
    return Math.min(Math.ceil(seconds), 300);
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  /** What happened to a report, in words: {outcome, text, retryIn (seconds) or null, id}. */
  function describeReport(response, body, label) {
    const said = apiMessage(body);
    const status = response.status;
    if (response.ok) {
      const days = Number(body && body.retention_days);
      const kept =
        Number.isInteger(days) && days > 0
          ? `kept for review for up to ${plural(days, "day")}`
          : "kept for review for a limited time";
      return {
        outcome: "stored",
        text:
          `Stored for review: thank you. Your report that this message is ` +
          `${label === "spam" ? "spam" : "not spam"} was saved; a person checks it before any ` +
          `model learns from it. The message is ${kept}.`,
        retryIn: null,
        id: body && typeof body.id === "string" ? body.id : "",
      };
    }
    if (status === 403 && body && body.Code === "FeedbackDisabledError") {
      return {
        outcome: "disabled",
        text:
          "Not stored: reporting is turned off on this deployment, so nothing was sent " +
          "for review.",
        retryIn: null,
      };
    }
    if (status === 503 || status === 429) {
      const seconds = retrySeconds(response);
      const why =
        status === 503
          ? "the API could not store the report just now (HTTP 503)"
          : "the API is taking too many reports right now (HTTP 429)";
      return {
        outcome: "not-stored",
        text:
          `Not stored: ${why}, so nothing was kept. ` +
          `You can send it again in ${plural(seconds, "second")}.`,
        retryIn: seconds,
      };
    }
    if (status >= 400 && status < 500) {
      const reason = said ? said.replace(/([^.!?])$/, "$1.") : "no reason given.";
      return {
        outcome: "not-stored",
        text: `Not stored: the API refused the report (HTTP ${status}): ${reason}`,
        retryIn: null,
      };
    }
    return {
      outcome: "not-stored",
      text:
        `Not stored: the API failed (HTTP ${status}). ${said || "It did not say why."} ` +
        "You can try again.",
      retryIn: 0,
    };
  }

  async function sendReport(label) {
    const report = shown;
    if (!report || report.state !== "ready" || inFlight) return; // one report per verdict
    report.state = "sending";
    clearTimeout(retryTimer);
    setReportEnabled(false);
    feedbackBox.dataset.state = "sending";
    setFeedbackStatus("sending", "Sending your report…");

    const payload = { text: report.text, label };
    if (REFERENCE_RE.test(report.modelVersion)) payload.model_version = report.modelVersion;
    if (REFERENCE_RE.test(report.requestId)) payload.request_id = report.requestId;
    let told;
    try {
      const { response, body } = await callApi("/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      told = describeReport(response, body, label);
    } catch (err) {
      const network =
        err instanceof ApiProblem && err.kind === "timeout"
          ? `the API at ${apiBase} did not answer within ${Math.round(TIMEOUT_MS / 1000)} seconds`
          : `could not reach the API at ${apiBase} (a network error, or the API is down)`;
      told = {
        outcome: "not-stored",
        text: `Not stored: ${network}. You can try again.`,
        retryIn: 0,
      };
      if (!(err instanceof ApiProblem)) console.error(err);
    }
    if (report !== shown) return; // a new analysis replaced this verdict meanwhile

    report.state = told.outcome === "stored" ? "stored" : "closed";
    feedbackBox.dataset.state = told.outcome;
    setFeedbackStatus(told.outcome === "stored" ? "stored" : "not-stored", told.text);
    if (told.id) {
      feedbackId.textContent = told.id;
      feedbackRef.hidden = false;
    }
    if (told.retryIn !== null) {
      // Nothing was stored: the same verdict may be reported again once the API allows it.
      retryTimer = setTimeout(() => {
        if (report !== shown) return;
        report.state = "ready";
        feedbackBox.dataset.state = "retry";
        setReportEnabled(true);
      }, told.retryIn * 1000);
    }
  }

  async function analyze() {
    if (inFlight) return; // the button is disabled too; this also stops Ctrl+Enter repeats
    const text = textarea.value;
    clearError();
    if (!apiBase) {
      showError(
        new ApiProblem(
          "config",
          "No valid API URL is configured. Set apiBaseUrl in config.js or open this page " +
            "with ?api=https://your-api.example.com",
        ),
      );
      return;
    }
    if (!text.trim()) {
      showError(new ApiProblem("empty", "Type or paste a message first."));
      textarea.focus();
      return;
    }
    setBusy(true);
    try {
      const { response, body } = await callApi("/predict", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text, explain: true }),
      });
      if (!response.ok) throw describeHttpError(response.status, body);
      if (!body || typeof body !== "object" || !body.classification) {
        throw new ApiProblem("server", "The API answered, but not with a classification.");
      }
      showResult(body, text, response.headers.get("X-Request-Id"));
      setHealth(`ready, model ${body.model_version || "unknown"}`);
    } catch (err) {
      result.hidden = true;
      announce.textContent = "";
      if (err instanceof ApiProblem && HEALTH_AFTER[err.kind]) setHealth(HEALTH_AFTER[err.kind]);
      showError(
        err instanceof ApiProblem
          ? err
          : new ApiProblem("unknown", "Something went wrong on this page; try again."),
      );
      if (!(err instanceof ApiProblem)) console.error(err);
    } finally {
      setBusy(false);
    }
  }

  /** What the footer's API status says after a failed call, by kind of failure. */
  const HEALTH_AFTER = {
    unreachable: "not reachable",
    timeout: "not answering",
    "no-model": "reachable, but no model is loaded yet",
  };

  function setHealth(text) {
    apiHealth.textContent = text ? `— ${text}` : "";
  }

  /**
   * When the API keeps a sample of what it scores (GET /health's `capture`), say so under
   * the form, with how long, and tie the notice to the message field for screen readers.
   */
  function showCaptureNotice(capture) {
    const days = Number(capture && capture.retention_days);
    if (!capture || capture.enabled !== true || !(days > 0)) return;
    captureNotice.textContent =
      "Messages may be kept for review: this deployment keeps a small sample of the " +
      `messages it analyzes, for up to ${days} day${days === 1 ? "" : "s"}, so that people ` +
      "can check the model's verdicts. Nothing about you is kept with them.";
    captureNotice.hidden = false;
    textarea.setAttribute("aria-describedby", "message-hint capture-notice");
  }

  /** A quiet status line on load, so a missing API is visible before the first click. */
  async function checkHealth() {
    if (!apiBase) return;
    try {
      const { response, body } = await callApi("/health", { method: "GET" });
      if (response.ok) {
        const version = body && body.model_version;
        const degraded =
          body && body.status === "degraded" ? " (serving, but the last model refresh failed)" : "";
        setHealth((version ? `ready, model ${version}` : "ready") + degraded);
        showCaptureNotice(body && body.capture);
      } else if (response.status === 503) {
        setHealth(HEALTH_AFTER["no-model"]);
      } else if (body && body.Code === "NotConfiguredError") {
        setHealth("reachable, but not configured (its settings need fixing)");
      } else {
        setHealth(`answered HTTP ${response.status}`);
      }
    } catch (err) {
      setHealth((err instanceof ApiProblem && HEALTH_AFTER[err.kind]) || "");
    }
  }

  function updateCount() {
    const n = textarea.value.length;
    charCount.textContent = `${n} character${n === 1 ? "" : "s"}`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    analyze();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      analyze();
    }
  });
  textarea.addEventListener("input", updateCount);
  for (const [label, btn] of Object.entries(reportButtons)) {
    btn.addEventListener("click", () => sendReport(label));
  }
  for (const example of document.querySelectorAll("button.example")) {
    example.addEventListener("click", () => {
      textarea.value = example.dataset.text || "";
      updateCount();
      analyze();
    });
  }

  apiUrlLabel.textContent = apiBase || "(not configured)";
  if (apiBase) {
    const contract = el("api-contract");
    contract.href = apiBase + "/openapi.json";
    contract.hidden = false;
  }
  updateCount();
  checkHealth();
})();
