-- A page of 100 anywhere in the collection, in code order, as a `next` link asks for it (its $skiptoken).
local headers = with_auth({["CONNEC-EXTERNAL-IDS"] = "true"})

request = function()
   local at = math.random(0, math.max(0, records_count - 100))
   return wrk.format("GET", group_path .. "?$top=100&$skiptoken=" .. at .. "." .. at, headers)
end
