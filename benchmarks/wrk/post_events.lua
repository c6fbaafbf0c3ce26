-- wrk script: POST SocketLabs Delivered events, each with its own MessageId and DateTime.
--
-- Usage: wrk -s post_events.lua URL -- TEMPLATE_FILE [RUN_TAG [DELAY_MS]]
--
-- TEMPLATE_FILE holds one JSON body (benchmarks/ingest.py writes it from
-- mailhooks.protocol.samples) in which @@DATETIME@@ and @@MESSAGE_ID@@ stand for the
-- values filled in per request (each may appear more than once: the Address holds the
-- MessageId too, one recipient per message). MessageId is RUN_TAG-t<thread>-<counter>, so every
-- request is a new event (no duplicates), also across runs given distinct tags.
-- DateTime is the current second, as SocketLabs sends it, so stored keys grow with time.
--
-- DELAY_MS paces the load: each connection waits on average DELAY_MS (uniformly 0.5x to
-- 1.5x, so connections do not move in lockstep) after an answer before its next request.
-- With C connections and latency L a run offers about C * 1000 / (DELAY_MS + L) requests/s.
-- Without it (or 0) no delay() hook is defined at all: wrk then sends back to back.
--
-- done() prints one line, "WRK_RESULT {json}", with counts and latency percentiles (us).

local thread_count = 0

function setup(thread)
    thread_count = thread_count + 1
    thread:set("thread_id", thread_count)
end

-- Per-thread state (each wrk thread runs its own Lua state).
local pieces = {}
local slots = {}
local run_tag = "run"
local counter = 0
local stamp_second = -1
local stamp = ""
local headers = { ["Content-Type"] = "application/json" }
local PLACEHOLDERS = { "@@DATETIME@@", "@@MESSAGE_ID@@" }

local function split_template(template)
    local position = 1
    while true do
        local first_start, first_end, first_name = nil, nil, nil
        for _, name in ipairs(PLACEHOLDERS) do
            local s, e = string.find(template, name, position, true)
            if s and (first_start == nil or s < first_start) then
                first_start, first_end, first_name = s, e, name
            end
        end
        if first_start == nil then
            table.insert(pieces, string.sub(template, position))
            return
        end
        table.insert(pieces, string.sub(template, position, first_start - 1))
        table.insert(slots, first_name)
        position = first_end + 1
    end
end

function init(args)
    local path = args[1]
    if path == nil then
        error("usage: wrk -s post_events.lua URL -- TEMPLATE_FILE [RUN_TAG [DELAY_MS]]")
    end
    run_tag = args[2] or "run"
    local mean_delay = tonumber(args[3] or "0")
    if mean_delay == nil or mean_delay < 0 then
        error("DELAY_MS must be a number of milliseconds, got " .. tostring(args[3]))
    end
    if mean_delay > 0 then
        -- wrk looks for delay() after init() has run, so defining it here turns pacing on.
        math.randomseed(os.time() + 7919 * thread_id)
        delay = function()
            return mean_delay * (0.5 + math.random())
        end
    end
    local file = assert(io.open(path, "rb"))
    local template = file:read("*a")
    file:close()
    split_template(template)
    if #slots == 0 then
        error("template has no @@MESSAGE_ID@@: every request would be the same event")
    end
end

function request()
    counter = counter + 1
    local now = os.time()
    if now ~= stamp_second then
        stamp_second = now
        stamp = os.date("!%Y-%m-%dT%H:%M:%S", now)
    end
    local values = {
        ["@@DATETIME@@"] = string.format("%s.%07dZ", stamp, counter % 10000000),
        ["@@MESSAGE_ID@@"] = string.format("%s-t%d-%09d", run_tag, thread_id, counter),
    }
    local parts = { pieces[1] }
    for index, name in ipairs(slots) do
        parts[#parts + 1] = values[name]
        parts[#parts + 1] = pieces[index + 1]
    end
    return wrk.format("POST", nil, headers, table.concat(parts))
end

function done(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        'WRK_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,'
            .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
            .. '"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
        summary.duration, summary.requests, summary.bytes, errors.connect, errors.read,
        errors.write, errors.status, errors.timeout, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
        latency.max, latency.mean
    ))
end
