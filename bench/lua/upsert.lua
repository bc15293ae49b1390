-- Create-or-update of one record: every other request a new app id, the others an update of a stored one.
local headers = with_auth({["Content-Type"] = "application/json"})
local counter = 0

request = function()
   counter = counter + 1
   return wrk.format("POST", group_path, headers, '{"people":' .. person(mixed_id(counter), counter) .. '}')
end
