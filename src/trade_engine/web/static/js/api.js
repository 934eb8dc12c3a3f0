// The REST API (/api/v1 and the operations endpoints), same origin. Answers are the
// envelope {"success": true, "data": ...}; errors become ApiError with the envelope's
// machine-readable code. The bearer token is passed in by the caller, per request.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export async function request(method, path, { body, token, query } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    if ([...params].length) url += `?${params}`;
  }
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok || payload === null || payload.success === false) {
    const error = payload?.error;
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? (response.statusText || "request failed"),
      error?.details ?? null,
    );
  }
  return payload.success === true ? payload.data : payload;
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, options) => request("POST", path, options);
export const patch = (path, options) => request("PATCH", path, options);
export const del = (path, options) => request("DELETE", path, options);

/** A one-line description of an error for the page. */
export function describe(error) {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return error?.message ?? String(error);
}
