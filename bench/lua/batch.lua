-- A batch of BENCH_BATCH upserts per request, half new records and half updates of stored ones.
-- Items the hub refuses inside a 200 answer are counted as failed_items.
local headers = with_auth({["Content-Type"] = "application/json"})
local size = tonumber(os.getenv("BENCH_BATCH") or "100")
local counter = 0

request = function()
   local items = {}
   for i = 1, size do
      counter = counter + 1
      items[i] = person(mixed_id(counter), counter)
   end
   return wrk.format("POST", group_path, headers, '{"people":[' .. table.concat(items, ",") .. ']}')
end

response = function(status, headers, body)
   local _, errors = string.gsub(body, '"error":', "")
   failed_items = failed_items + errors
end
