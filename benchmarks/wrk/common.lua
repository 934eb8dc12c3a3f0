-- Shared by the flows: per-thread tokens (one per funded user), JSON summary at the end.
-- The driver (benchmarks/http.py) writes the tokens to $WRK_TOKENS, one per line.

local common = {}

function common.load_tokens()
  local tokens = {}
  for line in io.lines(os.getenv("WRK_TOKENS")) do
    tokens[#tokens + 1] = line
  end
  return tokens
end

function common.headers(token)
  return { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function common.done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p99_9": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end

return common
