-- Resting limit orders through Binance's POST /api/v3/order, HMAC-signed. The driver
-- pre-signs them (wrk's Lua has no HMAC) into $WRK_SIGNED: "<api key> <query>" per line,
-- each with a timestamp and a recvWindow that keep it valid for the run.
package.path = os.getenv("WRK_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local signed = {}
local counter = 0

function init(args)
  for line in io.lines(os.getenv("WRK_SIGNED")) do
    local key, query = line:match("^(%S+) (%S+)$")
    signed[#signed + 1] = { key, query }
  end
  counter = math.random(0, #signed - 1)
end

function request()
  counter = counter + 1
  local entry = signed[(counter % #signed) + 1]
  local headers = { ["X-MBX-APIKEY"] = entry[1], ["Content-Type"] = "application/x-www-form-urlencoded" }
  return wrk.format("POST", "/api/v3/order", headers, entry[2])
end

done = common.done
