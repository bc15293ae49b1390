-- GET one stored record by its app id (opts[provider]/opts[realm]), with the external ids in the answer.
local headers = with_auth({["CONNEC-EXTERNAL-IDS"] = "true"})

request = function()
   local path = group_path .. "/" .. stored_id() .. "?opts[provider]=" .. provider .. "&opts[realm]=" .. realm
   return wrk.format("GET", path, headers)
end
