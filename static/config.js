// Where the page finds the API. `make demo` serves a copy of this folder with its own
// config.js; for a deployed stage, put the API Gateway URL here (with the stage path,
// e.g. "https://abc123.execute-api.eu-west-1.amazonaws.com/api"). The `?api=` query
// parameter overrides it without editing the file: index.html?api=http://127.0.0.1:8000
window.SPAM_CLASSIFIER_CONFIG = {
  apiBaseUrl: "http://127.0.0.1:8000",
  // Milliseconds before a request is given up and reported as too slow.
  requestTimeoutMs: 20000,
};
