-- Flow 2: over 100 funded users, about 50% resting orders, 30% crossing orders (they
-- trade with the resting ones near the middle) and 20% cancels of this thread's own
-- earlier orders (ids read from the answers).
package.path = os.getenv("WRK_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local tokens
local counter = 0
local open = {}  -- {id, token index} of orders this thread placed that may rest

function init(args)
  tokens = common.load_tokens()
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

local function place(index, side, price)
  -- The client order id names the user, so the answer says whose order it is.
  local body = string.format(
    '{"market":"BTC-USDT","side":"%s","type":"LIMIT","price":"%d.00","quantity":"0.0%02d",'
      .. '"client_order_id":"u%d-%d"}',
    side, price, math.random(1, 20), index, counter)
  return wrk.format("POST", "/api/v1/orders", common.headers(tokens[index]), body)
end

function request()
  counter = counter + 1
  local roll = math.random()
  if roll < 0.2 and #open > 0 then
    local entry = table.remove(open, math.random(#open))
    return wrk.format("DELETE", "/api/v1/orders/" .. entry[1], common.headers(tokens[entry[2]]))
  end
  local index = (counter % #tokens) + 1
  local buy = math.random() < 0.5
  if roll < 0.5 then
    -- crossing: a buy above the best asks, a sell below the best bids
    return place(index, buy and "BUY" or "SELL", buy and 10060 or 9940)
  end
  -- resting, near the middle
  return place(index, buy and "BUY" or "SELL", buy and (9950 + math.random(0, 49)) or (10001 + math.random(0, 49)))
end

function response(status, headers, body)
  if status == 201 and #open < 5000 then
    local id = body:match('"order_id":(%d+)')
    local owner = body:match('"client_order_id":"u(%d+)-')
    local state = body:match('"status":"([%u_]+)"')
    if id and owner and (state == "NEW" or state == "PARTIALLY_FILLED") then
      open[#open + 1] = { id, tonumber(owner) }
    end
  end
end

done = common.done
