-- GET /api/v1/me (or the path given second, e.g. /api/v1/auth), cycling through a pool of
-- valid tokens (one per line in a file).
-- wrk ... -s me.lua URL -- <tokens file> [path]
-- The requests are built once at start, so wrk spends nothing on them per request.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local requests = {}
local next_index = 0

function init(args)
  local path = args[2] or "/api/v1/me"
  for token in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
  end
  assert(#requests > 0, "no tokens in " .. args[1])
  next_index = (thread_number * 7919) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
