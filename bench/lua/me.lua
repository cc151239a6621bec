-- GET /api/v1/me (or the path given second, e.g. /api/v1/auth), cycling through a pool of
-- valid tokens (one per line in a file).
-- wrk ... -s me.lua URL -- <tokens file> [path] [addresses file]
-- With a file of client addresses, the n-th request of the pool carries the n-th address as
-- X-Forwarded-For, as behind a proxy. The requests are built once at start, so wrk spends
-- nothing on them per request.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local requests = {}
local next_index = 0

function init(args)
  local path = args[2] or "/api/v1/me"
  local addresses = {}
  if args[3] then
    for address in io.lines(args[3]) do
      addresses[#addresses + 1] = address
    end
  end
  for token in io.lines(args[1]) do
    local headers = { ["Authorization"] = "Bearer " .. token }
    if #addresses > 0 then
      headers["X-Forwarded-For"] = addresses[#requests % #addresses + 1]
    end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
  assert(#requests > 0, "no tokens in " .. args[1])
  next_index = (thread_number * 7919) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
