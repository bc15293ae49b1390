-- A page of the records changed since a time (incremental sync), with the external ids.
local headers = with_auth({["CONNEC-EXTERNAL-IDS"] = "true"})
local since = os.getenv("BENCH_SINCE")
local path = group_path .. "?$filter=updated_at%20gt%20'" .. since .. "'&$top=100"

request = function()
   return wrk.format("GET", path, headers)
end
