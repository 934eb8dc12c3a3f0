// Who is signed in. The token lives in this module's memory; if the user asks, it is
// also kept in sessionStorage (this tab only, gone when the tab closes) so a reload
// does not sign them out. Never in localStorage, cookies or URLs.
//
// The claims are read from the token only to shape the page (show the operator view
// to admins); the server checks the token on every request and WebSocket message.

const STORAGE_KEY = "trade-engine.token";

let token = null;
let claims = null;

function decodeClaims(jwt) {
  const parts = jwt.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
    const decoded = JSON.parse(json);
    return typeof decoded === "object" && decoded !== null ? decoded : null;
  } catch {
    return null;
  }
}

/** Sign in with a token (throws if it is not a JWT); keep it for the tab if asked. */
export function signIn(value, keepForTab) {
  const trimmed = value.trim();
  const decoded = decodeClaims(trimmed);
  if (decoded === null || typeof decoded.sub !== "string") {
    throw new Error("this is not a token (a JWT has three parts separated by dots)");
  }
  token = trimmed;
  claims = decoded;
  if (keepForTab) sessionStorage.setItem(STORAGE_KEY, trimmed);
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** The token kept for this tab, if any (after a reload). */
export function restore() {
  const saved = sessionStorage.getItem(STORAGE_KEY);
  if (saved === null) return false;
  try {
    signIn(saved, true);
    return true;
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
    return false;
  }
}

export function signOut() {
  token = null;
  claims = null;
  sessionStorage.removeItem(STORAGE_KEY);
}

export const currentToken = () => token;
export const userId = () => (claims === null ? null : claims.sub);

export function roles() {
  if (claims === null) return [];
  const raw = claims.roles ?? claims.role ?? ["trader"];
  return Array.isArray(raw) ? raw.map(String) : [String(raw)];
}

export const isTrader = () => roles().includes("trader");
export const isAdmin = () => roles().includes("admin");
