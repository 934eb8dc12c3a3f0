-- Flow 1: resting random limit orders (the peer gateway's request shape). Buys below and
-- sells above the market's traded range, so nothing crosses: each request is one order
-- accepted, held and committed.
package.path = os.getenv("WRK_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local tokens
local counter = 0

function init(args)
  tokens = common.load_tokens()
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local side, price
  if math.random() < 0.5 then
    side, price = "BUY", 9000 + math.random(0, 999)
  else
    side, price = "SELL", 11001 + math.random(0, 999)
  end
  local body = string.format(
    '{"market":"BTC-USDT","side":"%s","type":"LIMIT","price":"%d.%02d","quantity":"0.001%02d"}',
    side, price, math.random(0, 99), math.random(0, 99))
  return wrk.format("POST", "/api/v1/orders", common.headers(token), body)
end

done = common.done
