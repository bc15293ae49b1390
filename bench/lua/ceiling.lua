-- The ceiling: a plain GET of the bare endpoint, carrying the same API key header as the hub's requests.
local headers = with_auth({})

request = function()
   return wrk.format("GET", nil, headers)
end
