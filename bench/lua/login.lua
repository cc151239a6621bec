-- POST /api/v1/login with a code never sent before, for a user drawn from a pool.
-- wrk ... -s login.lua URL -- run=<id> users=<n> [limit=<answers>] [xff=<file>] [offset=<n>]
--                            [apps=<n>]
-- Codes are u<N>:<run id>.<thread>.<counter>: the simulator's user is the part before the ':',
-- so every user u0 .. u<users-1> comes back again and again, each time with a fresh code.
-- limit: stop once this many answers came (the runner is told by a BENCH_LIMIT line).
-- xff: a file of client addresses, one a line; each request carries the next one as
--   X-Forwarded-For (round the pool in order from line offset+1), as a proxy would, so the
--   login rate limit (per client address) sees many clients.
-- apps: the service has apps a000 .. a<apps-1>; user N logs in to app N % apps (as
--   bench/load.py's app_of), so each user is one identity, created once at set-up.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local counter = 0
local answers = 0
local run_id, users, limit, apps
local addresses = {}
local next_address = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  local options = {}
  for _, arg in ipairs(args) do
    local name, value = arg:match("^(%w+)=(.*)$")
    assert(name, "expected name=value, not " .. arg)
    options[name] = value
  end
  run_id = options.run or "run"
  users = tonumber(options.users or "10000")
  limit = tonumber(options.limit or "0")
  apps = tonumber(options.apps or "0")
  if options.xff then
    for address in io.lines(options.xff) do
      addresses[#addresses + 1] = address
    end
    assert(#addresses > 0, "no addresses in " .. options.xff)
    next_address = tonumber(options.offset or "0") % #addresses
  end
  math.randomseed(os.time() * 1000 + thread_number)
  if limit > 0 then
    -- Tell the runner when this thread has had its answers; it then ends wrk (SIGINT).
    response = function(status, headers, body)
      answers = answers + 1
      if answers == limit then
        io.stdout:write("BENCH_LIMIT\n")
        io.stdout:flush()
        wrk.thread:stop()
      end
    end
  end
end

function request()
  counter = counter + 1
  local user = math.random(0, users - 1)
  local body
  if apps > 0 then
    body = string.format('{"code":"u%d:%s.%d.%d","app":"a%03d"}',
      user, run_id, thread_number, counter, user % apps)
  else
    body = string.format('{"code":"u%d:%s.%d.%d"}', user, run_id, thread_number, counter)
  end
  if #addresses > 0 then
    next_address = next_address % #addresses + 1
    headers["X-Forwarded-For"] = addresses[next_address]
  end
  return wrk.format("POST", "/api/v1/login", headers, body)
end
