-- POST /api/v1/login with a code never sent before, for a user drawn from a pool.
-- wrk ... -s login.lua URL -- <run id> <users> [<stop after this many answers>]
-- Codes are u<N>:<run id>.<thread>.<counter>: the simulator's user is the part before the ':',
-- so every user u0 .. u<users-1> comes back again and again, each time with a fresh code.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local counter = 0
local answers = 0
local run_id, users, limit
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  run_id = args[1] or "run"
  users = tonumber(args[2] or "10000")
  limit = tonumber(args[3] or "0")
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
  local body = string.format('{"code":"u%d:%s.%d.%d"}',
    math.random(0, users - 1), run_id, thread_number, counter)
  return wrk.format("POST", "/api/v1/login", headers, body)
end
