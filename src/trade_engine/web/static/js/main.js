// The page's start: the WebSocket stream, signing in and out, the two views.

import { describe } from "./api.js";
import { byId, setText } from "./dom.js";
import { OperatorView } from "./operator.js";
import * as session from "./session.js";
import { Stream } from "./stream.js";
import { TradingView } from "./trading.js";

const STATUS_TEXT = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" };

function notify(text) {
  const notice = byId("notice");
  setText(notice, text);
  notice.hidden = text === "";
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const stream = new Stream(`${scheme}//${location.host}/ws`);
const trading = new TradingView(stream, notify);
const operator = new OperatorView(stream, notify);

function showView(name) {
  const operatorShown = name === "operator" && session.isAdmin();
  byId("view-trading").hidden = operatorShown;
  byId("view-operator").hidden = !operatorShown;
  byId("tab-trading").classList.toggle("active", !operatorShown);
  byId("tab-operator").classList.toggle("active", operatorShown);
  operator.show(operatorShown);
}

function showSignedIn() {
  const signedIn = session.currentToken() !== null;
  byId("signin").hidden = signedIn;
  byId("signed-in").hidden = !signedIn;
  setText(byId("user-name"), session.userId() ?? "");
  setText(byId("user-roles"), session.roles().join(", "));
  byId("tab-operator").hidden = !session.isAdmin();
  if (signedIn) trading.signedIn();
  else trading.signedOut();
  if (!session.isAdmin()) showView("trading");
}

function signIn(token, keep) {
  try {
    session.signIn(token, keep);
  } catch (error) {
    setText(byId("signin-error"), error.message);
    return;
  }
  setText(byId("signin-error"), "");
  byId("token-input").value = "";
  // A new connection first (a connection belongs to one user), so that the private
  // channels are asked for on it, after it authenticated.
  stream.setToken(session.currentToken());
  showSignedIn();
}

function signOut() {
  session.signOut();
  stream.setToken(null);
  showSignedIn();
}

byId("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(byId("token-input").value, byId("token-remember").checked);
});
byId("signout-button").addEventListener("click", signOut);
byId("tab-trading").addEventListener("click", () => showView("trading"));
byId("tab-operator").addEventListener("click", () => showView("operator"));

stream.on("status", (state) => {
  const status = byId("conn-status");
  setText(status, STATUS_TEXT[state] ?? state);
  status.dataset.state = state;
});
stream.on("live", () => notify(""));
stream.on("authenticated", (user) => setText(byId("user-name"), user));
stream.on("auth-error", (error) => {
  signOut();
  setText(byId("signin-error"), `Sign-in refused: ${error.code ?? ""} ${error.message}`);
});
stream.on("token-expired", () => {
  signOut();
  setText(byId("signin-error"), "Your token expired: sign in again.");
});
stream.on("subscribe-error", ({ channels, error }) => notify(`${channels.join(", ")}: ${error.code ?? ""} ${error.message}`));
stream.on("notice", (error) => {
  // NOT_READY and the like precede a close; the stream reconnects on its own.
  if (error.code !== "NOT_READY") notify(`${error.code}: ${error.message}`);
});

if (session.restore()) stream.token = session.currentToken();
showSignedIn();
stream.start();
trading.start().catch((error) => notify(`markets: ${describe(error)}`));
